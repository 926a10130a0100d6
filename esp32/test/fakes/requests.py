# Fake of micropython-lib `requests`. Either a Python handler answers
# (unit tests), or the request crosses to Node's real HTTP through the
# `jsbridge` JS module (end-to-end tests). Counts open responses so tests
# can prove every response was closed.
import json as _json

import sim as _sim

handler = None
record = True  # keep every call in `calls` (off for heap measurements)
calls = []
open_responses = 0
heap_samples = []


class Response:
    def __init__(self, status, headers, body):
        global open_responses
        open_responses += 1
        self.status_code = status
        self.reason = b""
        self.headers = headers
        self._body = body
        self.closed = False

    @property
    def content(self):
        return self.text.encode()

    @property
    def text(self):
        if isinstance(self._body, Exception):
            raise self._body  # e.g. the link died while reading the body
        return self._body

    def json(self):
        return _json.loads(self._body)

    def close(self):
        global open_responses
        if not self.closed:
            self.closed = True
            open_responses -= 1


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


def request(method, url, data=None, json=None, headers=None, timeout=None, **kw):
    import gc
    if record:
        heap_samples.append(gc.mem_alloc())
    if json is not None:
        data = _json.dumps(json)
    if isinstance(data, bytes):
        data = data.decode()
    s = _sim.SIM
    if record:
        calls.append({"method": method, "url": url, "headers": dict(headers or {}), "body": data,
                      "timeout": timeout, "up_ms": s.up_ms})
    if not s.wifi_up:
        # A dead link does not raise at once: it is a read that times out.
        s.advance(int((timeout or 60) * 1000), False)
        raise OSError(110)
    h = handler or _bridge
    status, hdrs, body = h(method, url, headers or {}, data, timeout)
    return Response(status, hdrs, body)


def post(url, **kw):
    return request("POST", url, **kw)


def get(url, **kw):
    return request("GET", url, **kw)
