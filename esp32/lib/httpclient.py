# The one place that talks HTTP. Two paths:
# - default: micropython-lib `requests` (mpremote mip install requests), or
#   the older `urequests`. It never verifies the server's certificate
#   (CERT_NONE): anyone on the Wi-Fi path could pose as the server.
# - with config "ca_cert": the POST is done here over a TLS socket that
#   verifies the server against that CA (CERT_REQUIRED) and the host name.
#   That path lives in tlshttp.py, loaded only with ca_cert.
# Always closes the response/socket: a leaked socket ends in ENOMEM.
try:
    import requests
except ImportError:
    try:
        import urequests as requests
    except ImportError:
        requests = None

MISSING = ("HTTP client missing: run `mpremote mip install requests`;"
           " readings are queued on flash until it is installed")

_ca_path = None  # config "ca_cert"


class CertError(OSError):
    """The server's certificate did not verify against ca_cert (or ca_cert
    is unusable): a configuration problem (or an impostor), not a transient
    network error."""


def configure(ca_cert):
    global _ca_path
    _ca_path = ca_cert


def available():
    return requests is not None or _ca_path is not None


def post(url, body, headers, timeout_s):
    """POST body (str/bytes). Returns (status, headers with lower-case names,
    body text). Raises OSError on DNS, socket, TLS or timeout failures
    (CertError, an OSError, when the certificate does not verify)."""
    if _ca_path is not None and url.startswith("https://"):
        # The verified path (~3 KB of bytecode) is loaded only when used.
        import tlshttp
        return tlshttp.post(_ca_path, url, body, headers, timeout_s)
    if requests is None:
        raise OSError(MISSING)
    try:
        r = requests.post(url, data=body, headers=headers, timeout=timeout_s)
    except OSError:
        raise
    except TypeError:
        # urequests before 0.10 has no timeout argument: a dead link would
        # then hang until the watchdog fires, so refuse rather than risk it.
        raise OSError("HTTP client has no timeout support: install micropython-lib requests")
    except Exception as e:
        # A garbled status line (ValueError), a redirect without Location
        # (NotImplementedError)...: transient as far as the queue goes.
        raise OSError("HTTP client error: %s %s" % (type(e).__name__, e))
    try:
        status = r.status_code
        hdrs = {}
        raw = getattr(r, "headers", None)
        if raw:
            for k in raw:
                v = raw[k]
                hdrs[(k.decode() if isinstance(k, bytes) else k).lower()] = (
                    v.decode() if isinstance(v, bytes) else v)
        text = r.text
    finally:
        r.close()
    return status, hdrs, text
