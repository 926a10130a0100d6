# Fake of MicroPython's `socket`, for httpclient's verified-TLS path: records
# lookups, timeouts, connects and closes. The bytes on the wire are the
# business of the fake `tls` module that wraps these sockets.
AF_INET = 2
SOCK_STREAM = 1

lookups = []  # (host, port)
sockets = []  # every Socket made, in order
dns_error = None  # an exception getaddrinfo raises
connect_error = None  # an exception connect raises


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    lookups.append((host, port))
    if dns_error is not None:
        raise dns_error
    return [(AF_INET, SOCK_STREAM, 6, "", ("10.0.0.7", port))]


class Socket:
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        self.af, self.type, self.proto = af, type, proto
        self.timeout = None
        self.addr = None
        self.closed = False
        sockets.append(self)

    def settimeout(self, t):
        self.timeout = t

    def connect(self, addr):
        if self.timeout is None:
            raise AssertionError("connect before settimeout: a dead link would hang")
        if connect_error is not None:
            raise connect_error
        self.addr = addr

    def close(self):
        self.closed = True


def socket(af=AF_INET, type=SOCK_STREAM, proto=0):
    return Socket(af, type, proto)
