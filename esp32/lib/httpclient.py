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


class CAFileError(CertError):
    """The CA file itself is unusable (unreadable, not one certificate)."""


class ClockError(OSError):
    """The certificate could not be checked because the board's clock is
    not set yet (after a power cut, before NTP): every certificate looks
    "not yet valid". Transient: retried as soon as NTP answers."""


def _clock_unset():
    import time
    return time.gmtime()[0] < 2024  # an unset ESP32 RTC reads 2000


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
        # A CA that came with a firmware release (contract: ca.pem) waits
        # here until a send verified with it.
        self.ca_next = "/ca.next.pem"
        self._ca_next = None
        self.ca_rotated = False  # set once the new CA took over (for the log)
        self.ca_next_error = None  # why the waiting CA could not be used
        self._fps = None  # {"active", "waiting"} fingerprints, once known

    def post(self, url, body, headers, timeout_s):
        """POST to url. body: str or bytes, or a function body(out) that
        writes the body's pieces (str) with out.write(); it is called twice
        and must write the same both times: once to count the bytes for
        Content-Length, once to send them.
        Returns (status, headers with lower-case names, body text). Raises
        OSError on DNS, socket, TLS, timeout or garbled-answer failures
        (CertError when the certificate does not verify)."""
        return self._request("POST", url, body, headers, timeout_s, None)

    def get(self, url, headers, timeout_s, sink=None):
        """GET url. With sink, a 200/206 answer's status is handed to
        sink(status), then its body to sink(bytes) in pieces of at most 512
        bytes as they arrive (a file is never held whole in RAM), and the
        text returned is ""; otherwise as post()."""
        return self._request("GET", url, None, headers, timeout_s, sink)

    def _request(self, method, url, body, headers, timeout_s, sink):
        scheme, host, port, hostport, path = _split(url)
        if scheme not in ("http", "https"):
            raise ValueError("unsupported URL scheme: %s" % url)
        key = (host, port)
        try:
            result = self._attempt(method, scheme, host, port, hostport, path, body, headers, timeout_s, sink)
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

    def _attempt(self, method, scheme, host, port, hostport, path, body, headers, timeout_s, sink):
        """One request; over https with a CA delivered by a release waiting
        beside ca_cert, the CAs retry.ca_order() names, in turn, until one
        verifies (contract: the old CA is kept until the new one worked)."""
        if scheme != "https" or self.ca_path is None or not _exists(self.ca_next):
            return self._send(method, scheme, host, port, hostport, path, body, headers, timeout_s, sink, None)
        err = None
        for which in retry.ca_order():
            try:
                got = self._send(method, scheme, host, port, hostport, path, body, headers, timeout_s, sink, which)
            except ClockError:
                raise
            except CertError as e:
                if which == "next" and isinstance(e, CAFileError):
                    # Kept for the health report: a waiting CA that can
                    # never verify must be seen before the server switches.
                    # (One that does not verify yet is the normal case: the
                    # server still presents the old CA's certificate.)
                    self.ca_next_error = str(e)
                err = e
                continue
            if which == "next":
                self._promote_ca()
            return got
        raise err

    def _promote_ca(self):
        # A send verified with the new CA: it becomes ca_cert, the old one
        # is gone (rename over it, so a power cut leaves one or the other).
        import os
        try:
            os.rename(self.ca_next, self.ca_path)
        except OSError:
            try:
                os.remove(self.ca_path)
            except OSError:
                pass
            os.rename(self.ca_next, self.ca_path)
        self._ca = self._ca_next
        self._ca_next = None
        self.ca_rotated = True
        self.ca_next_error = None
        if self._fps:
            self._fps = {"active": self._fps["waiting"], "waiting": None}

    def ca_fingerprints(self):
        """{"active", "waiting"}: the SHA-256 of the CA that verifies the
        server and of one a release delivered that waits to take over, or
        None without ca_cert (the health report: a waiting CA and a finished
        rotation are visible per device)."""
        if self.ca_path is None:
            return None
        if self._fps is None:
            import tlshttp
            fps = {"active": None, "waiting": None}
            for k, p in (("active", self.ca_path), ("waiting", self.ca_next)):
                try:
                    fps[k] = tlshttp.fingerprint(tlshttp.read_ca(p))
                except (OSError, ValueError) as e:
                    if k == "waiting" and _exists(p):
                        self.ca_next_error = "CA file %s unusable: %s" % (p, e)
            self._fps = fps
        if self.ca_next_error and _exists(self.ca_next):
            d = dict(self._fps)
            d["waiting_error"] = self.ca_next_error[:160]
            return d
        return self._fps

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

    def _send(self, method, scheme, host, port, hostport, path, body, headers, timeout_s, sink, ca):
        ai = self._address(host, port)
        s = socket.socket(ai[0], socket.SOCK_STREAM, ai[2])
        try:
            # The timeout bounds each connect, handshake, write and read.
            s.settimeout(timeout_s)
            s.connect(ai[-1])
            if scheme == "https":
                s = self._tls(s, host, ca)
            if self._buf is None:
                self._buf = bytearray(_CHUNK)
            if body is None:
                length = None
            elif callable(body):
                count = _Out(None, None, 0)
                body(count)
                length = count.total
            else:
                length = len(body)
            head = ["%s /%s HTTP/1.1\r\nHost: %s\r\n" % (method, path, hostport)]
            close = False
            for k in headers:
                kl = k.lower()
                if kl in ("host", "content-length"):
                    continue
                close = close or kl == "connection"
                head.append("%s: %s\r\n" % (k, headers[k]))
            if not close:
                head.append("Connection: close\r\n")
            head.append("\r\n" if length is None else "Content-Length: %d\r\n\r\n" % length)
            out = _Out(s, self._buf, 1 << 30)
            for h in head:
                out.write(h)
            del head
            out.limit = out.total + (length or 0)
            if callable(body):
                body(out)
            elif body is not None:
                out.write(body)
            out.flush()
            if out.total != out.limit:
                raise OSError("HTTP body shrank between counting and sending")
            return _read_response(s, sink)
        finally:
            s.close()

    def _tls(self, s, host, which):
        import tls
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        if self.ca_path is None:
            ctx.verify_mode = tls.CERT_NONE
            return ctx.wrap_socket(s, server_hostname=host)
        import tlshttp
        path = self.ca_next if which == "next" else self.ca_path
        try:
            if which == "next":
                if self._ca_next is None:
                    self._ca_next = tlshttp.read_ca(path)
                ca = self._ca_next
            else:
                if self._ca is None:
                    self._ca = tlshttp.read_ca(path)
                ca = self._ca
        except (OSError, ValueError) as e:
            raise CAFileError("CA file %s unusable: %s" % (path, e))
        try:
            return tlshttp.wrap_verified(ctx, s, host, ca)
        except tlshttp.NotVerified as e:
            if _clock_unset():
                raise ClockError("TLS certificate of %s not checked: the clock is not set yet (waiting for NTP)" % host)
            raise CertError("TLS certificate of %s did not verify against %s %s (%s):"
                            " wrong or outdated CA file, or not the real server"
                            % (host, "the new CA" if which == "next" else "ca_cert", path, " ".join(str(e).split())))


def _exists(path):
    import os
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _read_response(s, sink=None):
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
    if sink is not None and status in (200, 206):
        sink(status)
        _stream(s, hdrs, n, sink)
        return status, hdrs, ""
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


def _stream(s, hdrs, n, sink):
    """Hand the body to sink in small pieces (a firmware file goes to flash
    as it arrives)."""
    if "chunked" in hdrs.get("transfer-encoding", ""):
        while True:
            size = int(s.readline().split(b";")[0].strip(), 16)
            if not size:
                break
            while size:
                b = s.read(min(size, _CHUNK))
                if not b:
                    raise OSError("connection closed inside a chunk")
                sink(b)
                size -= len(b)
            s.readline()
        return
    left = int(n) if n is not None else -1
    while left:
        b = s.read(_CHUNK if left < 0 else min(left, _CHUNK))
        if not b:
            if left > 0:
                raise OSError("connection closed with %d body bytes to come" % left)
            return
        sink(b)
        if left > 0:
            left -= len(b)
