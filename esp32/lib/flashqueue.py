# Durable, bounded FIFO of readings on flash.
#
# Layout under root (default /q):
#   00000001.q, 00000002.q ...  segments: one JSON object per line, append-only
#   ack                         "<segment> <byte offset> <dropped>": the first
#                               unsent line, and how many readings the cap dropped
#   boot                        boot counter (a reading's boot id)
#
# Why this shape: a send never rewrites queued data (flash wear); the only
# file rewritten is the few-byte ack, via write-to-temp + rename, which is
# atomic on littlefs. Every boot appends to a fresh segment, so a line torn
# by a power cut is never glued to a later one; the reader skips it. The cap
# drops whole oldest segments and counts what was dropped.
import json
import os
from micropython import const

from fsutil import makedirs, replace

_SUFFIX = ".q"
_CHUNK = const(512)


class FlashQueue:
    def __init__(self, root="/q", cap=2000, seg_records=0, log=None):
        self.root = root.rstrip("/")
        self.cap = cap
        self.seg_records = seg_records or max(8, min(64, cap // 8))
        self.log = log
        makedirs(self.root)
        self.segs = sorted(int(n[:-2]) for n in os.listdir(self.root)
                           if n.endswith(_SUFFIX) and n[:-2].isdigit())
        self.r_seg, self.r_off, self.dropped = self._load_ack()
        # Segments wholly before the read position were acknowledged but not
        # yet deleted when the power went: finish the job.
        while self.segs and self.segs[0] < self.r_seg:
            self._unlink(self.segs.pop(0))
        if self.segs and self.r_seg not in self.segs:
            self.r_seg, self.r_off = self.segs[0], 0
        self.depth = 0
        for s in self.segs:
            self.depth += self._count_lines(s, self.r_off if s == self.r_seg else 0)
        self.boot = self._next_boot()
        # A new segment per boot: the previous one may end in a torn line.
        self.w_seg = (self.segs[-1] + 1) if self.segs else max(1, self.r_seg)
        self.w_count = 0
        if not self.segs:
            self.r_seg, self.r_off = self.w_seg, 0

    # -- files -------------------------------------------------------------
    def _path(self, seg):
        return "%s/%08d%s" % (self.root, seg, _SUFFIX)

    def _unlink(self, seg):
        try:
            os.remove(self._path(seg))
        except OSError:
            pass

    def _count_lines(self, seg, off):
        n = 0
        try:
            with open(self._path(seg), "rb") as f:
                f.seek(off)
                while True:
                    b = f.read(_CHUNK)
                    if not b:
                        break
                    n += b.count(b"\n")
        except OSError:
            pass
        return n

    def _load_ack(self):
        for name in ("/ack", "/ack.tmp"):
            try:
                with open(self.root + name) as f:
                    p = f.read().split()
                return int(p[0]), int(p[1]), int(p[2])
            except (OSError, ValueError, IndexError):
                # Missing or torn: fall back to the oldest segment. Resending
                # is safe, the server treats repeats as duplicates.
                pass
        return 0, 0, 0

    def _save_ack(self):
        tmp = self.root + "/ack.tmp"
        with open(tmp, "w") as f:
            f.write("%d %d %d\n" % (self.r_seg, self.r_off, self.dropped))
        replace(tmp, self.root + "/ack")

    def _next_boot(self):
        path = self.root + "/boot"
        try:
            with open(path) as f:
                n = int(f.read().strip() or 0) + 1
        except (OSError, ValueError):
            n = 1
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % n)
        replace(tmp, path)
        return n

    # -- writing -----------------------------------------------------------
    def append(self, rec):
        line = json.dumps(rec) + "\n"
        if self.w_count >= self.seg_records:
            self.w_seg += 1
            self.w_count = 0
        with open(self._path(self.w_seg), "a") as f:
            f.write(line)
        if not self.segs or self.segs[-1] != self.w_seg:
            self.segs.append(self.w_seg)
        self.w_count += 1
        self.depth += 1
        self._enforce_cap()

    def _enforce_cap(self):
        while self.depth > self.cap and len(self.segs) > 1:
            s = self.segs.pop(0)
            lost = self._count_lines(s, self.r_off if s == self.r_seg else 0)
            self._unlink(s)
            self.dropped += lost
            self.depth -= lost
            if self.r_seg <= s:
                self.r_seg, self.r_off = self.segs[0], 0
            self._save_ack()
            if self.log:
                self.log.warn("queue full (%d): dropped %d oldest readings" % (self.cap, lost))

    # -- reading -----------------------------------------------------------
    def peek(self, n):
        """Up to n oldest readings as [(record, position after it)]. A
        position is (segment, offset, lines consumed) for ack(). Torn and
        corrupt lines are skipped (and consumed by the next ack)."""
        out = []
        self.scan(n, lambda rec, pos: out.append((rec, pos)))
        return out

    def scan(self, n, fn, quiet=False):
        """Hand the up to n oldest readings to fn(record, position after
        it) one at a time, holding none of them: a batch send reads the
        queue again rather than keeping 20 records in the heap. Stops early
        when fn returns False. quiet: do not log skipped lines again."""
        seg, off, lines = self.r_seg, self.r_off, 0
        seen = 0
        i = 0
        while i < len(self.segs) and self.segs[i] < seg:
            i += 1
        while seen < n and i < len(self.segs):
            if self.segs[i] != seg:
                off = 0
            seg = self.segs[i]
            try:
                f = open(self._path(seg), "rb")
            except OSError:
                i += 1
                off = 0
                continue
            try:
                f.seek(off)
                while seen < n:
                    line = f.readline()
                    if not line:
                        break
                    if line[-1:] != b"\n":
                        # The tail of a line torn by a power cut.
                        off += len(line)
                        if not quiet:
                            self._bad("torn line at end of %s skipped" % self._path(seg))
                        break
                    off += len(line)
                    lines += 1
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        rec = None
                    del line
                    if isinstance(rec, dict):
                        seen += 1
                        if fn(rec, (seg, off, lines)) is False:
                            n = seen  # stop here
                    elif not quiet:
                        self._bad("corrupt line in %s skipped" % self._path(seg))
            finally:
                f.close()
            if seen >= n or seg == self.w_seg:
                break
            i += 1
            off = 0
        self._tail = (seg, off, lines)
        return seen

    def tail(self):
        """Position after everything the last peek() or scan() looked at
        (to ack a batch of only corrupt lines)."""
        return self._tail

    def _bad(self, msg):
        if self.log:
            self.log.warn(msg)

    def ack(self, pos):
        seg, off, lines = pos
        self.r_seg, self.r_off = seg, off
        self.depth = max(0, self.depth - lines)
        self._save_ack()
        while self.segs and self.segs[0] < seg:
            self._unlink(self.segs.pop(0))
