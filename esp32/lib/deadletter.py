# Readings the server refused for good (4xx): kept on flash with the reason,
# so a person can inspect or repair them, but never retried automatically,
# so one poison reading cannot block the queue. Capped: the file is rotated
# to <path>.1 when it grows past max_bytes.
import json
import os


class DeadLetter:
    def __init__(self, path="/deadletter.jsonl", max_bytes=32768, log=None):
        self.path = path
        self.max_bytes = max_bytes
        self.log = log
        self.count = 0

    def add(self, reading, reason):
        try:
            if os.stat(self.path)[6] >= self.max_bytes:
                try:
                    os.remove(self.path + ".1")
                except OSError:
                    pass
                os.rename(self.path, self.path + ".1")
        except OSError:
            pass
        with open(self.path, "a") as f:
            f.write(json.dumps({"reason": reason, "reading": reading}))
            f.write("\n")
        self.count += 1
        if self.log:
            self.log.error("dead-lettered reading %s: %s" % (reading.get("recordedAt"), reason))
