# HTTPS POST over a TLS socket that verifies the server (config "ca_cert").
# micropython-lib `requests` always uses CERT_NONE, so it is bypassed here:
# CERT_REQUIRED against one pinned CA (DER; PEM is converted) and the host
# name (server_hostname: SNI and the name check). Used by httpclient.post,
# which it mirrors: (status, lower-case headers, text), OSError on failure,
# CertError (an OSError) when the certificate does not verify.
import socket
import tls

from httpclient import CertError

_ca = None  # DER bytes of the CA, read at first use and kept (~1-2 KB heap)
_ca_path = None


def read_ca(path):
    """DER bytes of the one CA certificate in file `path` (DER or PEM).
    Raises OSError when unreadable, ValueError when not a certificate."""
    with open(path, "rb") as f:
        data = f.read()
    begin = b"-----BEGIN CERTIFICATE-----"
    if data[:1] == b"\x30":  # DER: an ASN.1 SEQUENCE
        return data
    i = data.find(begin)
    if i < 0:
        raise ValueError("%s is neither a DER nor a PEM certificate" % path)
    j = data.find(b"-----END CERTIFICATE-----", i)
    if j < 0 or data.find(begin, j) >= 0:
        # mbedtls here takes one DER certificate: pin the root CA alone.
        raise ValueError("%s must hold exactly one PEM certificate" % path)
    import binascii
    try:
        der = binascii.a2b_base64(data[i + len(begin):j])
    except ValueError:
        der = b""
    if der[:1] != b"\x30":
        raise ValueError("%s: the PEM certificate does not decode" % path)
    return der


def _cert_error(ca_path, host, e):
    return CertError("TLS certificate of %s did not verify against ca_cert %s (%s):"
                     " wrong or outdated CA file, or not the real server" % (host, ca_path, e))


def _is_cert(e):
    # mbedtls errors arrive as OSError(code, "MBEDTLS_ERR_X509_...") or,
    # without error strings, OSError(9984) (X509_CERT_VERIFY_FAILED).
    code = e.args[0] if e.args else None
    return (isinstance(code, int) and abs(code) == 0x2700) or "X509" in str(e) or "CERT" in str(e)


def post(ca_path, url, body, headers, timeout_s):
    """httpclient.post over a TLS socket verified against ca_path."""
    global _ca, _ca_path
    if _ca is None or _ca_path != ca_path:
        try:
            _ca = read_ca(ca_path)
        except (OSError, ValueError) as e:
            raise CertError("ca_cert %s unusable: %s" % (ca_path, e))
        _ca_path = ca_path
    hostport, _, path = url[8:].partition("/")
    host, _, port = hostport.partition(":")
    port = int(port) if port else 443
    if isinstance(body, str):
        body = body.encode()
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not ai:
        raise OSError("DNS: no address for %s" % host)
    ai = ai[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM, ai[2])
    try:
        # The timeout bounds each connect, handshake, write and read.
        s.settimeout(timeout_s)
        s.connect(ai[-1])
        try:
            ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
            ctx.verify_mode = tls.CERT_REQUIRED
            # tls takes cadata positionally (no keywords) and DER only.
            ctx.load_verify_locations(_ca)
            s = ctx.wrap_socket(s, server_hostname=host)
        except ValueError as e:
            # mbedtls reports a failed verification as ValueError(reason).
            raise _cert_error(ca_path, host, e)
        except OSError as e:
            if _is_cert(e):
                raise _cert_error(ca_path, host, e)
            raise
        req = ["POST /%s HTTP/1.1\r\nHost: %s\r\n" % (path, hostport)]
        close = False
        for k in headers:
            if k.lower() in ("host", "content-length"):
                continue
            close = close or k.lower() == "connection"
            req.append("%s: %s\r\n" % (k, headers[k]))
        if not close:
            req.append("Connection: close\r\n")
        req.append("Content-Length: %d\r\n\r\n" % len(body))
        s.write("".join(req).encode())
        del req
        s.write(body)
        try:
            return _read_response(s)
        except (ValueError, IndexError) as e:
            raise OSError("HTTP client error: %s %s" % (type(e).__name__, e))
    finally:
        s.close()


def _read_response(s):
    line = s.readline()
    if not line:
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
