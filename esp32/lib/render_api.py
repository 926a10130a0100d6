# The seed's function: send one temperature straight to the Render service.
#   send_temperature_to_render(temp_c, recorded_at=None) -> True if delivered
# Up to 3 attempts 1 s apart. Whatever is not delivered goes on the same
# flash queue as the measurement loop's readings, so it is sent later; a
# reading the server refuses for good goes to the dead-letter file.
import json

import httpclient
import reading
import uplink
from clock import iso_utc, parse_iso
from micropython import const

_ATTEMPTS = const(3)
_PAUSE_MS = const(1000)

_app = None  # the running App (set by app.App), else built on first use


def bind(app):
    global _app
    _app = app


def _context():
    global _app
    if _app is None:
        # Called from the REPL without the app running: build the parts.
        import app
        _app = app.build()
    return _app


def send_temperature_to_render(temp_c, recorded_at=None):
    if recorded_at is not None:
        parse_iso(recorded_at)  # ValueError now beats a 400 from the server later
    a = _context()
    clock, log, cfg = a.clock, a.log, a.cfg
    if recorded_at is None and clock.valid():
        recorded_at = iso_utc(clock.unix())
    rec = {"b": clock.boot, "u": clock.uptime_ms(), "t": round(temp_c, 2), "src": "seed"}
    if recorded_at:
        rec["at"] = recorded_at
    if not httpclient.available():
        log.error(httpclient.MISSING)
        a.queue.append(rec)
        return False
    if recorded_at is None:
        # No wrong dates: the queue dates it from its uptime once NTP ran.
        log.warn("clock not set yet: temperature %s queued until it is" % temp_c)
        a.queue.append(rec)
        return False
    doc = reading.to_api(rec, recorded_at, cfg, a.health())
    body = json.dumps(doc)
    headers = a.uplink.headers
    url = a.uplink.url
    for attempt in range(1, _ATTEMPTS + 1):
        a.feed()
        try:
            status, _, text = httpclient.post(url, body, headers, cfg["http_timeout_s"])
        except OSError as e:
            log.warn("send_temperature_to_render attempt %d: %s" % (attempt, e))
            status = None
        if status is not None:
            kind = uplink.classify(status)
            if kind == uplink.SENT:
                rej = uplink._json(text).get("rejected")
                if rej:
                    a.dead.add(doc, "HTTP %d rejected: %s" % (status, json.dumps(rej)[:120]))
                    return False
                log.info("temperature %s at %s sent (HTTP %d)" % (temp_c, recorded_at, status))
                a.show_sent()
                return True
            if kind == uplink.DEAD:
                a.dead.add(doc, "HTTP %d %s" % (status, (text or "")[:120]))
                return False
            log.warn("send_temperature_to_render attempt %d: HTTP %d" % (attempt, status))
        if attempt < _ATTEMPTS:
            clock.sleep_ms(_PAUSE_MS)
    a.queue.append(rec)
    log.warn("temperature %s at %s queued for later delivery" % (temp_c, recorded_at))
    return False
