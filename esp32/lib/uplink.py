# Delivery of queued readings to POST {base_url}/api/measurements, and every
# retry decision. The server's contract decides what a status means:
#   2xx              delivered: ack the batch; readings listed in "rejected"
#                    go to the dead-letter file
#   408, 429, 5xx,   transient: keep the batch, retry after exponential
#   timeout, socket  backoff with jitter (or the server's Retry-After)
#   401, 403, 404    the device is misconfigured (token, URL): keep the
#                    batch, retry slowly, show the error LED
#   other 4xx        the batch itself is bad: dead-letter it and go on, so a
#                    poison reading can never block the queue
# Each call sends at most one batch, so the caller decides how much time
# sending may take before the next measurement is due.
import gc
import io
import json
import random
from micropython import const

import httpclient
import reading

SENT = "sent"
RETRY = "retry"
DEAD = "dead"
HELD = "held"  # configuration error (401/403/404)
IDLE = "idle"  # nothing to send
WAIT = "wait"  # oldest reading waits for the clock to be set
OFFLINE = "offline"

_MAX_RETRY_AFTER_S = const(3600)
_WAIT_MS = const(5000)
_READING_BYTES = const(300)  # a reading's JSON is ~260 bytes


def classify(status):
    if 200 <= status <= 299:
        return SENT
    if status in (401, 403, 404):
        return HELD
    if status in (408, 429) or status >= 500:
        return RETRY
    if 400 <= status <= 499:
        return DEAD
    return RETRY  # 1xx/3xx: a redirect lost the POST; treat as transient


def retry_after_s(headers):
    """Seconds from a Retry-After header; None when absent or an HTTP date
    (a device without a set clock cannot trust a date)."""
    v = headers.get("retry-after")
    if v is None:
        return None
    try:
        s = int(v.strip())
    except ValueError:
        return None
    return min(max(s, 0), _MAX_RETRY_AFTER_S)


class Uplink:
    def __init__(self, cfg, clock, log, rand=None, http=None):
        self.cfg = cfg
        self.clock = clock
        self.log = log
        self.http = http or httpclient
        self.url = cfg["base_url"] + "/api/measurements"
        self.headers = {
            "Authorization": "Bearer " + cfg["api_key"],
            "Content-Type": "application/json",
            "Connection": "close",
        }
        self.batch_size = cfg["batch_size"]
        self.failures = 0  # consecutive transient failures
        self.net_failures = 0  # consecutive socket/timeout errors
        self.next_try_ms = 0  # uptime before which no send is attempted
        self.last_error = None
        self.last_delay_s = 0
        self._rand = rand or (lambda: random.getrandbits(16) / 65536)

    def due(self, up_ms):
        return up_ms >= self.next_try_ms

    def backoff_s(self, retry_after=None):
        """Delay before the next attempt after self.failures failures."""
        if retry_after is not None:
            # Honour the server, with a little jitter so a fleet woken by
            # the same 429 does not return in lockstep.
            return retry_after + retry_after * 0.1 * self._rand()
        base = self.cfg["backoff_base_s"]
        cap = self.cfg["backoff_cap_s"]
        d = min(cap, base * (1 << min(self.failures - 1, 20)))
        # "Equal jitter": at least half the delay, never more than the cap.
        return d / 2 + d / 2 * self._rand()

    def _schedule(self, up_ms, delay_s):
        self.last_delay_s = delay_s
        self.next_try_ms = up_ms + int(delay_s * 1000)

    def _doc(self, item):
        return reading.to_api(item[0], item[1], self.cfg, None)

    def send_next(self, queue, dead, device):
        """Send the oldest batch. device: the health dict for payload.device.
        Returns one of SENT, RETRY, DEAD, HELD, IDLE, WAIT."""
        items = queue.peek(self.batch_size)
        if not items:
            pos = queue.tail()
            if pos[2]:
                queue.ack(pos)  # only corrupt lines: consume them
            return IDLE
        # Serialise one reading at a time: only the compact queued records
        # and the JSON text are alive together, never a list of API dicts.
        # Device health rides on the first reading of the batch.
        sent = []  # (record, recordedAt) in body order, for dead-lettering
        buf = io.BytesIO(_READING_BYTES * len(items) + 512)  # grows if needed
        end = None
        for rec, pos in items:
            at = reading.recorded_at(rec, self.clock)
            if at is None:
                if rec.get("b") == self.clock.boot:
                    break  # this boot's clock is not set yet: wait for NTP
                # Taken before NTP in a boot that never got the time: it can
                # never be dated, and a wrong date is worse than none.
                dead.add(reading.to_api(rec, None, self.cfg, None),
                         "time unknown: taken before the clock was set in boot %s" % rec.get("b"))
                end = pos
                continue
            buf.write("," if sent else "[")
            reading.write_json(rec, at, self.cfg, None if sent else device, buf)
            sent.append((rec, at))
            end = pos
        del items
        if not sent:
            if end is not None:
                queue.ack(end)
                return DEAD
            # The oldest reading waits for NTP: look again in a few seconds
            # rather than spinning.
            self.next_try_ms = self.clock.uptime_ms() + _WAIT_MS
            return WAIT
        buf.write("]")
        n = len(sent)
        body = buf.getvalue()
        del buf
        gc.collect()  # the heap is at its fullest during the request
        try:
            status, hdrs, text = self.http.post(self.url, body, self.headers, self.cfg["http_timeout_s"])
        except OSError as e:
            del body
            self.failures += 1
            self.net_failures += 1
            self.last_error = "network: %s" % (e,)
            self._schedule(self.clock.uptime_ms(), self.backoff_s())
            self.log.warn("send of %d failed (%s); retry in %ds" % (n, self.last_error, self.last_delay_s))
            return RETRY
        del body
        self.net_failures = 0
        kind = classify(status)
        up = self.clock.uptime_ms()
        if kind == SENT:
            res = _json(text)
            rejected = res.get("rejected") or []
            for r in rejected:
                i = r.get("index") if isinstance(r, dict) else None
                if isinstance(i, int) and 0 <= i < n:
                    dead.add(self._doc(sent[i]), "HTTP %d rejected %s: %s" % (status, r.get("field"), r.get("message")))
            queue.ack(end)
            self.failures = 0
            self.next_try_ms = up
            self.last_error = None if not rejected else "%d readings rejected" % len(rejected)
            self.log.info("sent %d: accepted %s, duplicates %s, rejected %d" % (
                n, res.get("accepted"), res.get("duplicates"), len(rejected)))
            return SENT
        if status == 413 and n > 1:
            # Too large for the server: halve the batch and try again now.
            self.batch_size = max(1, n // 2)
            self.log.warn("HTTP 413 for %d readings: batch size now %d" % (n, self.batch_size))
            return RETRY
        if kind == DEAD:
            res = _json(text)
            why = {}
            for r in res.get("rejected") or []:
                if isinstance(r, dict) and isinstance(r.get("index"), int):
                    why[r["index"]] = "%s: %s" % (r.get("field"), r.get("message"))
            short = (text or "")[:120]
            for i in range(n):
                dead.add(self._doc(sent[i]), "HTTP %d %s" % (status, why.get(i, short)))
            queue.ack(end)
            self.failures = 0
            self.next_try_ms = up
            self.last_error = "HTTP %d: batch dead-lettered" % status
            return DEAD
        self.failures += 1
        if kind == HELD:
            self.last_error = "HTTP %d: check api_key, device_id and base_url in config.json" % status
            self._schedule(up, self.cfg["backoff_cap_s"])
            self.log.error("%s; retry in %ds" % (self.last_error, self.last_delay_s))
            return HELD
        self.last_error = "HTTP %d" % status
        self._schedule(up, self.backoff_s(retry_after_s(hdrs)))
        self.log.warn("server answered %d for %d readings; retry in %ds" % (status, n, self.last_delay_s))
        return RETRY


def _json(text):
    try:
        v = json.loads(text) if text else {}
        return v if isinstance(v, dict) else {}
    except ValueError:
        return {}
