# temp.csv / elect.csv: a local record of every reading, readable without
# the server. Rotated at max_bytes to <name>.1.csv ... <name>.<keep>.csv,
# so the files never fill the flash.
import os


class CsvLog:
    def __init__(self, path, header, max_bytes=65536, keep=2):
        self.path = path
        self.header = header
        self.max_bytes = max_bytes
        self.keep = keep
        self._size = self._check_header()

    def _rotated(self, i):
        base = self.path[:-4] if self.path.endswith(".csv") else self.path
        return "%s.%d.csv" % (base, i)

    def _check_header(self):
        try:
            with open(self.path) as f:
                first = f.readline().rstrip("\r\n")
            size = os.stat(self.path)[6]
        except OSError:
            return None
        if first != self.header:
            # An older file with other columns (an earlier firmware's):
            # move it aside so every file has one consistent header.
            self.rotate()
            return None
        return size

    def rotate(self):
        for i in range(self.keep, 0, -1):
            src = self.path if i == 1 else self._rotated(i - 1)
            try:
                os.remove(self._rotated(i))
            except OSError:
                pass
            try:
                os.rename(src, self._rotated(i))
            except OSError:
                pass
        if self.keep == 0:
            try:
                os.remove(self.path)
            except OSError:
                pass
        self._size = None

    def append(self, fields):
        row = ",".join("" if v is None else str(v) for v in fields) + "\n"
        if self._size is not None and self._size + len(row) > self.max_bytes:
            self.rotate()
        with open(self.path, "a") as f:
            if self._size is None:
                f.write(self.header + "\n")
                self._size = len(self.header) + 1
            f.write(row)
        self._size += len(row)
