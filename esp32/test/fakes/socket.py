# Fake of MicroPython's `socket`, with the far end of every connection: it
# reads the HTTP request the firmware writes and answers it. Either a
# Python handler answers (unit tests: handler(method, url, headers, body,
# timeout) -> (status, headers, body) or raw response bytes; it may raise
# OSError for a timeout), or the request crosses to Node's real HTTP through
# the `jsbridge` JS module (end-to-end tests). Records lookups, timeouts,
# connects, requests and closes, so tests can prove every socket was closed.
import io
import json as _json

import sim as _sim

AF_INET = 2
SOCK_STREAM = 1
_DNS_BLOCK_MS = 5000  # a lookup without a network blocks until it gives up

lookups = []  # (host, port)
sockets = []  # every Socket made, in order
calls = []  # every request: {"method", "url", "headers", "body", "timeout", "up_ms"}
dns_error = None  # an exception getaddrinfo raises
connect_error = None  # an exception connect raises
handler = None
record = True  # keep requests in `calls` (off for heap measurements)
keep_body = True  # False: count the body's bytes and readings, keep none of it
last_body_bytes = 0
# Bytes one request may write before MemoryError: stands in for a heap that
# runs out while a large batch is on its way (the VM's own heap grows).
memory_limit = None
last_readings = 0


def open_sockets():
    return [s for s in sockets if not s.closed]


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    lookups.append((host, port))
    s = _sim.SIM
    if s is not None and not s.wifi_up:
        s.advance(_DNS_BLOCK_MS, False)
        raise OSError(-202)  # lwip: EAI_FAIL
    if dns_error is not None:
        raise dns_error
    return [(AF_INET, SOCK_STREAM, 6, "", ("10.0.0.7", port))]


def _bridge(method, url, headers, body, timeout):
    import jsbridge
    r = _json.loads(jsbridge.http(method, url, _json.dumps(headers), body or "", int(timeout * 1000)))
    ms = r.get("elapsed_ms", 0)
    _sim.SIM.advance(ms, False)
    if r.get("error") == "timeout":
        raise OSError(110)  # ETIMEDOUT
    if r.get("error"):
        raise OSError(104)  # ECONNRESET / refused
    return r["status"], r["headers"], r["body"]


class _Answer:
    """The bytes the server sends back; a body that is an exception is
    raised once the status line and headers were read (the link died)."""

    def __init__(self, got):
        self.exc = None
        if isinstance(got, (bytes, bytearray)):
            self.r = io.BytesIO(bytes(got))
            return
        status, hdrs, body = got
        n = None
        if isinstance(body, tuple):
            # (bytes, exception): the body is cut there (a power cut, a link
            # that dies mid-file), its Content-Length promised more.
            body, self.exc = body
            n = len(body) + 100
        elif isinstance(body, BaseException):
            self.exc = body
            body = ""
        b = body.encode() if isinstance(body, str) else body
        head = "HTTP/1.1 %d X\r\n" % status
        for k in hdrs:
            if k.lower() not in ("content-length", "transfer-encoding"):
                head += "%s: %s\r\n" % (k, hdrs[k])
        if n is None:
            n = len(b) if self.exc is None else len(b) + 100
        self.r = io.BytesIO(head.encode() + b"Content-Length: %d\r\n\r\n" % n + b)

    def readline(self):
        line = self.r.readline()
        if not line and self.exc is not None:
            raise self.exc
        return line

    def read(self, n=-1):
        b = self.r.read(n) if n >= 0 else self.r.read()
        if not b and self.exc is not None:
            raise self.exc
        return b


class Socket:
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        self.af, self.type, self.proto = af, type, proto
        self.timeout = None
        self.addr = None
        self.closed = False
        self.tls = False  # set by the fake tls when it wraps this socket
        self._out = []
        self._tail = b""
        self._bytes = 0
        self._readings = 0
        self._answer = None
        sockets.append(self)

    def settimeout(self, t):
        self.timeout = t

    def connect(self, addr):
        if self.timeout is None:
            raise AssertionError("connect before settimeout: a dead link would hang")
        if self.closed:
            raise OSError(9)
        if connect_error is not None:
            raise connect_error
        s = _sim.SIM
        if s is not None and not s.wifi_up:
            # A dead link does not refuse: the connect times out.
            s.advance(int(self.timeout * 1000), False)
            raise OSError(110)
        self.addr = addr

    def write(self, b):
        if self.closed or self.addr is None:
            raise OSError(9)  # EBADF / not connected
        b = bytes(b)
        self._bytes += len(b)
        if memory_limit is not None and self._bytes > memory_limit:
            raise MemoryError("memory allocation failed, allocating %d bytes" % len(b))
        if keep_body:
            self._out.append(b)
        else:
            # Count readings across write boundaries, keep only a tail.
            t = self._tail + b
            self._readings += t.count(b'"deviceId"')
            self._tail = t[-9:]
        return len(b)

    def _request(self):
        global last_body_bytes, last_readings
        if not keep_body:
            head = b""
            body = None
            last_readings = self._readings
            method, url, hdrs = "POST", "", {}
        else:
            raw = b"".join(self._out)
            self._out = []
            head, _, body = raw.partition(b"\r\n\r\n")
            body = body.decode()
            lines = head.decode().split("\r\n")
            method, path = lines[0].split(" ")[:2]
            hdrs = {}
            for l in lines[1:]:
                k, _, v = l.partition(":")
                hdrs[k.strip()] = v.strip()
            url = ("https://" if self.tls else "http://") + hdrs.get("Host", "") + path
            n = int(hdrs.get("Content-Length", "-1"))
            if method == "GET" and n == -1 and not body:
                pass  # a GET has no body
            elif n != len(body.encode()):
                raise AssertionError("Content-Length %d for a %d-byte body" % (n, len(body.encode())))
            hdrs.pop("Host", None)
            hdrs.pop("Content-Length", None)
        last_body_bytes = self._bytes
        if record:
            calls.append({"method": method, "url": url, "headers": hdrs, "body": body,
                          "timeout": self.timeout, "up_ms": _sim.SIM.up_ms})
        h = handler or _bridge
        return _Answer(h(method, url, hdrs, body, self.timeout))

    def _reader(self):
        if self.closed:
            raise OSError(9)
        if self._answer is None:
            self._answer = self._request()
        return self._answer

    def readline(self):
        return self._reader().readline()

    def read(self, n=-1):
        return self._reader().read(n)

    def close(self):
        self.closed = True


def socket(af=AF_INET, type=SOCK_STREAM, proto=0):
    return Socket(af, type, proto)
