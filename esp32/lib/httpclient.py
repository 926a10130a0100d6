# The one place that talks HTTP: POST over a socket this module opens and
# closes on every path (a leaked socket ends in ENOMEM), HTTP/1.1 with
# Connection: close, a timeout on every socket operation.
#
# - The body can be written in pieces straight to the socket, through one
#   small buffer: a batch is never held whole in RAM (see post()).
# - The server's address is looked up once and reused: getaddrinfo has no
#   timeout and blocks during an outage. It is looked up again only after a
#   request failed (retry.refresh_address).
# - https:// without ca_cert: TLS that does not verify the server (anyone on
#   the Wi-Fi path could pose as it). With ca_cert: the server's certificate
#   must chain to that CA and name the host (tlshttp.py, loaded only then).
import io
import socket
from micropython import const

import retry

_CHUNK = const(512)  # the send buffer: small TCP segments / TLS records cost more


class CertError(OSError):
    """The server's certificate did not verify against ca_cert (or ca_cert
    is unusable): a configuration problem (or an impostor), not a transient
    network error."""


class _Out(io.IOBase):
    """The stream a body function writes to (a real stream: json.dump can
    write into it): counts the bytes (sock None), or copies them into the
    buffer and sends it whenever it is full."""

    def __init__(self, sock, buf, limit):
        self.sock = sock
        self.buf = buf
        self.mv = memoryview(buf) if buf is not None else None
        self.n = 0
        self.total = 0
        self.limit = limit

    def write(self, s):
        # memoryview of a str is its UTF-8 bytes, without a copy.
        m = memoryview(s)
        k = len(m)
        self.total += k
        if self.sock is None:
            return k
        if self.total > self.limit:
            # Never send more than Content-Length said: the server would
            # take a cut-off body for a bad request and refuse the readings.
            raise OSError("HTTP body grew between counting and sending")
        if self.n + k > len(self.buf):
            self.flush()
        if k >= len(self.buf):
            self.sock.write(m)
        else:
            self.mv[self.n:self.n + k] = m
            self.n += k
        return k

    def flush(self):
        if self.n:
            self.sock.write(self.mv[:self.n])
            self.n = 0


def _split(url):
    scheme, _, rest = url.partition("://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    port = int(port) if port else (443 if scheme == "https" else 80)
    return scheme, host, port, hostport, path


class Client:
    def __init__(self, ca_cert=None):
        self.ca_path = ca_cert  # config "ca_cert": verify the server
        self._ca = None  # the CA's DER bytes, read at the first https request
        self._addr = {}  # (host, port) -> getaddrinfo entry
        self._failures = 0  # requests in a row that failed
        self._buf = None

    def post(self, url, body, headers, timeout_s):
        """POST to url. body: str or bytes, or a function body(out) that
        writes the body's pieces (str) with out.write(); it is called twice
        and must write the same both times: once to count the bytes for
        Content-Length, once to send them.
        Returns (status, headers with lower-case names, body text). Raises
        OSError on DNS, socket, TLS, timeout or garbled-answer failures
        (CertError when the certificate does not verify)."""
        scheme, host, port, hostport, path = _split(url)
        if scheme not in ("http", "https"):
            raise ValueError("unsupported URL scheme: %s" % url)
        key = (host, port)
        try:
            result = self._post(scheme, host, port, hostport, path, body, headers, timeout_s)
        except CertError:
            raise
        except OSError:
            self._failed(key)
            raise
        except (ValueError, IndexError) as e:
            # A garbled status line or header: transient as far as the
            # queue goes.
            self._failed(key)
            raise OSError("HTTP client error: %s %s" % (type(e).__name__, e))
        self._failures = 0
        return result

    def _failed(self, key):
        self._failures += 1
        if retry.refresh_address(self._failures):
            self._addr.pop(key, None)

    def _address(self, host, port):
        ai = self._addr.get((host, port))
        if ai is None:
            found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            if not found:
                raise OSError("DNS: no address for %s" % host)
            ai = self._addr[(host, port)] = found[0]
        return ai

    def _post(self, scheme, host, port, hostport, path, body, headers, timeout_s):
        ai = self._address(host, port)
        s = socket.socket(ai[0], socket.SOCK_STREAM, ai[2])
        try:
            # The timeout bounds each connect, handshake, write and read.
            s.settimeout(timeout_s)
            s.connect(ai[-1])
            if scheme == "https":
                s = self._tls(s, host)
            if self._buf is None:
                self._buf = bytearray(_CHUNK)
            if callable(body):
                count = _Out(None, None, 0)
                body(count)
                length = count.total
            else:
                length = len(body)
            head = ["POST /%s HTTP/1.1\r\nHost: %s\r\n" % (path, hostport)]
            close = False
            for k in headers:
                kl = k.lower()
                if kl in ("host", "content-length"):
                    continue
                close = close or kl == "connection"
                head.append("%s: %s\r\n" % (k, headers[k]))
            if not close:
                head.append("Connection: close\r\n")
            head.append("Content-Length: %d\r\n\r\n" % length)
            out = _Out(s, self._buf, 1 << 30)
            for h in head:
                out.write(h)
            del head
            out.limit = out.total + length
            if callable(body):
                body(out)
            else:
                out.write(body)
            out.flush()
            if out.total != out.limit:
                raise OSError("HTTP body shrank between counting and sending")
            return _read_response(s)
        finally:
            s.close()

    def _tls(self, s, host):
        import tls
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        if self.ca_path is None:
            ctx.verify_mode = tls.CERT_NONE
            return ctx.wrap_socket(s, server_hostname=host)
        import tlshttp
        if self._ca is None:
            try:
                self._ca = tlshttp.read_ca(self.ca_path)
            except (OSError, ValueError) as e:
                raise CertError("ca_cert %s unusable: %s" % (self.ca_path, e))
        try:
            return tlshttp.wrap_verified(ctx, s, host, self._ca)
        except tlshttp.NotVerified as e:
            raise CertError("TLS certificate of %s did not verify against ca_cert %s (%s):"
                            " wrong or outdated CA file, or not the real server" % (host, self.ca_path, e))


def _read_response(s):
    line = s.readline()
    if not line:
        # The answer was lost (the server or the link closed the
        # connection): the request may have been committed or not.
        raise OSError("connection closed before the HTTP status line")
    status = int(line.split(None, 2)[1])
    hdrs = {}
    while True:
        line = s.readline()
        if not line or line == b"\r\n" or line == b"\n":
            break
        k, _, v = line.partition(b":")
        hdrs[k.strip().decode().lower()] = v.strip().decode()
    n = hdrs.get("content-length")
    if "chunked" in hdrs.get("transfer-encoding", ""):
        parts = []
        while True:
            size = int(s.readline().split(b";")[0].strip(), 16)
            if not size:
                break
            parts.append(s.read(size))
            s.readline()
        data = b"".join(parts)
    elif n is not None:
        n = int(n)
        data = s.read(n) if n else b""
        if len(data) < n:
            raise OSError("connection closed after %d of %d body bytes" % (len(data), n))
    else:
        data = s.read()  # Connection: close: the body runs to EOF
    return status, hdrs, data.decode()
