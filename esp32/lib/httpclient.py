# The one place that talks to the HTTP library: micropython-lib `requests`
# (mpremote mip install requests), or the older `urequests`.
# Always closes the response: a leaked socket ends in ENOMEM on a device.
try:
    import requests
except ImportError:
    try:
        import urequests as requests
    except ImportError:
        requests = None

MISSING = ("HTTP client missing: run `mpremote mip install requests`;"
           " readings are queued on flash until it is installed")


def available():
    return requests is not None


def post(url, body, headers, timeout_s):
    """POST body (str/bytes). Returns (status, headers with lower-case names,
    body text). Raises OSError on DNS, socket or timeout failures."""
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
