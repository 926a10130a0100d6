# Fake of MicroPython's `tls` (mbedtls): records what a context is given
# (verify_mode, cadata, server_hostname) and what is written; serves a
# canned `response` when one is set, else passes the bytes through to the
# fake socket beneath (whose far end answers). Signatures as in extmod/modtls_mbedtls.c:
# load_verify_locations takes cadata positionally, wrap_socket keywords.
import io

PROTOCOL_TLS_CLIENT = 0
PROTOCOL_TLS_SERVER = 1
CERT_NONE = 0
CERT_OPTIONAL = 1
CERT_REQUIRED = 2

contexts = []  # every SSLContext made
wrapped = []  # every SSLSocket made
handshake_error = None  # raised by wrap_socket (mbedtls: ValueError on a failed verify)
response = None  # canned answer: bytes, or an exception read raises; None: the socket's far end


class SSLContext:
    def __init__(self, protocol):
        self.protocol = protocol
        self.verify_mode = CERT_NONE
        self.cadata = None
        contexts.append(self)

    def load_verify_locations(self, *args, **kw):
        if kw or len(args) != 1:
            raise TypeError("function doesn't take keyword arguments")
        if not isinstance(args[0], (bytes, bytearray)):
            raise TypeError("cadata must be bytes")
        self.cadata = bytes(args[0])

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None):
        if sock.addr is None:
            raise AssertionError("wrap_socket before connect")
        self.server_hostname = server_hostname
        if self.verify_mode == CERT_REQUIRED and server_hostname is None:
            raise ValueError("CERT_REQUIRED requires server_hostname")
        if handshake_error is not None:
            raise handshake_error
        sock.tls = True
        s = SSLSocket(self, sock)
        wrapped.append(s)
        return s


class SSLSocket:
    def __init__(self, ctx, sock):
        self.ctx = ctx
        self.sock = sock
        self._written = []
        self.closed = False
        self._r = None

    def write(self, b):
        if self.closed:
            raise OSError(9)  # EBADF
        import socket
        if response is not None or socket.keep_body:
            self._written.append(bytes(b))
        if response is None:
            self.sock.write(b)
        return len(b)

    @property
    def written(self):
        return b"".join(self._written)

    def _stream(self):
        if self.closed:
            raise OSError(9)
        if isinstance(response, Exception):
            raise response
        if self._r is None:
            self._r = io.BytesIO(response)
        return self._r

    def readline(self):
        if response is None and not self.closed:
            return self.sock.readline()
        return self._stream().readline()

    def read(self, n=-1):
        if response is None and not self.closed:
            return self.sock.read(n)
        return self._stream().read(n)

    def close(self):
        # As on MicroPython: closing the TLS socket closes the one beneath.
        self.closed = True
        self.sock.close()
