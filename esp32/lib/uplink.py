# Delivery of readings to POST {base_url}/api/measurements: the queue's
# oldest batch (send_next), or one reading whose caller waits for the answer
# (send_now). What an answer means, how long to wait and how big a batch may
# be are decided in retry.py; this module carries the decisions out on the
# queue and the dead-letter file.
#
# The heap is at its fullest during a send. The body is never built: the
# readings are serialised straight into the socket's small send buffer
# (httpclient), one queued record at a time. When the heap is still too
# small, the batch halves (retry.BatchSize) rather than failing forever.
import gc
import json
from micropython import const

import httpclient
import reading
import retry
from retry import SENT, RETRY, DEAD, HELD

IDLE = "idle"  # nothing to send
WAIT = "wait"  # oldest reading waits for the clock to be set

_WAIT_MS = const(5000)


def answer(text):
    """The server's JSON answer as a dict ({} when it is not one)."""
    try:
        v = json.loads(text) if text else {}
        return v if isinstance(v, dict) else {}
    except ValueError:
        return {}


def _reasons(rejected):
    """{body index: "field: message"} of an answer's rejected list."""
    why = {}
    for r in rejected:
        if isinstance(r, dict) and isinstance(r.get("index"), int):
            why[r["index"]] = "%s: %s" % (r.get("field"), r.get("message"))
    return why


class Uplink:
    def __init__(self, cfg, clock, log, rand=None, http=None):
        self.cfg = cfg
        self.clock = clock
        self.log = log
        self.http = http or httpclient.Client(cfg.get("ca_cert"))
        self.url = cfg["base_url"] + "/api/measurements"
        self.headers = {
            "Authorization": "Bearer " + cfg["api_key"],
            "Content-Type": "application/json",
            "Connection": "close",
        }
        self.batch = retry.BatchSize(cfg["batch_size"])
        self.backoff = retry.Backoff(cfg["backoff_base_s"], cfg["backoff_cap_s"], rand)
        self.net_failures = 0  # consecutive socket/timeout errors
        self.next_try_ms = 0  # uptime before which no send is attempted
        self.last_error = None
        self.last_delay_s = 0
        # What the server wants this device to run (answer "desired":
        # settingsRev, firmware), from the last delivered batch.
        self.desired = None
        self.waits_for_clock = False  # a TLS check failed before NTP

    def clock_set(self):
        """NTP answered: a send held back by a certificate check that the
        unset clock failed goes now."""
        if self.waits_for_clock:
            self.waits_for_clock = False
            self.next_try_ms = 0

    @property
    def batch_size(self):
        return self.batch.n

    @property
    def failures(self):
        return self.backoff.failures

    def due(self, up_ms):
        return up_ms >= self.next_try_ms

    def link_suspect(self):
        """True once enough requests in a row died on the socket that the
        Wi-Fi link should be dropped and joined again (and the count starts
        over)."""
        if self.net_failures >= retry.NET_FAILS_BEFORE_RECONNECT:
            self.net_failures = 0
            return True
        return False

    def _schedule(self, up_ms, delay_s):
        self.last_delay_s = delay_s
        self.next_try_ms = up_ms + int(delay_s * 1000)

    def _post(self, body):
        """POST body and return (status, headers, text); when the request
        failed before an answer, count the failure, schedule the next try
        and return HELD (certificate) or RETRY."""
        try:
            return self.http.post(self.url, body, self.headers, self.cfg["http_timeout_s"])
        except httpclient.ClockError as e:
            # Not the CA's fault: retried with the usual backoff, and at
            # once when NTP answers (clock_set).
            self.backoff.failed()
            self.last_error = "TLS: %s" % (e,)
            self.waits_for_clock = True
            self._schedule(self.clock.uptime_ms(), self.backoff.delay_s())
            self.log.warn("%s; retry in %ds" % (self.last_error, self.last_delay_s))
            return RETRY
        except httpclient.CertError as e:
            # Not transient: the CA file is wrong or outdated, or someone
            # poses as the server. Like 401/403: keep the queue, retry
            # slowly, show the error LED; no Wi-Fi reconnect, it would not help.
            self.backoff.failed()
            self.last_error = "TLS: %s" % (e,)
            self._schedule(self.clock.uptime_ms(), self.cfg["backoff_cap_s"])
            self.log.error("%s; retry in %ds" % (self.last_error, self.last_delay_s))
            return HELD
        except OSError as e:
            self.backoff.failed()
            self.net_failures += 1
            self.last_error = "network: %s" % (e,)
            self._schedule(self.clock.uptime_ms(), self.backoff.delay_s())
            return RETRY

    def send_next(self, queue, dead, device):
        """Send the oldest batch. device: the health dict for payload.device.
        Returns one of SENT, RETRY, DEAD, HELD, IDLE, WAIT. Raises
        MemoryError only when not even one reading fits in the heap."""
        try:
            return self._send_next(queue, dead, device)
        except MemoryError:
            gc.collect()
            n = self.batch.n
            if not self.batch.out_of_memory():
                raise  # the caller counts it; a reset defragments the heap
            self.last_error = "out of memory sending %d readings" % n
            self.log.warn("%s: batch size now %d" % (self.last_error, self.batch.n))
            return RETRY  # due at once, with the smaller batch

    def _each_sent(self, queue, k, fn):
        """fn(i, record, recordedAt) for each reading of the batch, i its
        place in the body: the first k records of the queue less those that
        cannot be dated (the same ones every time: the queue and the clock's
        boot record do not change during a send)."""
        clock = self.clock
        i = [0]

        def each(rec, pos):
            at = reading.recorded_at(rec, clock)
            if at is not None:
                fn(i[0], rec, at)
                i[0] += 1
        queue.scan(k, each, True)

    def _send_next(self, queue, dead, device):
        # The batch is read from the queue's flash once to plan it, once to
        # count the body's bytes and once to send it: records are never held
        # together in the heap (20 parsed records would take ~7 KB).
        clock = self.clock
        cfg = self.cfg
        plan = [0, None, 0]  # readings to send, position after the batch, records looked at

        def look(rec, pos):
            if reading.recorded_at(rec, clock) is None:
                if rec.get("b") == clock.boot:
                    return False  # this boot's clock is not set yet: wait for NTP
                # Taken before NTP in a boot that never got the time: it can
                # never be dated, and a wrong date is worse than none.
                dead.add(reading.to_api(rec, None, cfg, None),
                         "time unknown: taken before the clock was set in boot %s" % rec.get("b"))
            else:
                plan[0] += 1
            plan[1] = pos
            plan[2] += 1
        if not queue.scan(self.batch.n, look):
            pos = queue.tail()
            if pos[2]:
                queue.ack(pos)  # only corrupt lines: consume them
            return IDLE
        n, end, k = plan
        if not n:
            if end is not None:
                queue.ack(end)
                return DEAD
            # The oldest reading waits for NTP: look again in a few seconds
            # rather than spinning.
            self.next_try_ms = self.clock.uptime_ms() + _WAIT_MS
            return WAIT

        def body(out):
            # Device health rides on the last reading of the batch (the
            # fleet contract): the newest reading carries the newest state.
            out.write("[")

            def put(i, rec, at):
                if i:
                    out.write(",")
                reading.write_json(rec, at, cfg, device if i == n - 1 else None, out)
            self._each_sent(queue, k, put)
            out.write("]")
        gc.collect()  # the heap is at its fullest during the request
        got = self._post(body)
        if got in (HELD, RETRY):
            if got == RETRY:
                self.log.warn("send of %d failed (%s); retry in %ds" % (n, self.last_error, self.last_delay_s))
            return got
        status, hdrs, text = got
        self.net_failures = 0
        kind = retry.classify(status)
        up = self.clock.uptime_ms()
        if kind == SENT:
            res = answer(text)
            if isinstance(res.get("desired"), dict):
                self.desired = res["desired"]
            rejected = res.get("rejected") or []
            why = _reasons(rejected)
            if why:
                self._each_sent(queue, k, lambda i, rec, at: i in why and dead.add(
                    reading.to_api(rec, at, cfg, None), "HTTP %d rejected %s" % (status, why[i])))
            queue.ack(end)
            self.backoff.succeeded()
            self.batch.sent()
            self.next_try_ms = up
            self.last_error = None if not rejected else "%d readings rejected" % len(rejected)
            self.log.info("sent %d: accepted %s, duplicates %s, rejected %d" % (
                n, res.get("accepted"), res.get("duplicates"), len(rejected)))
            return SENT
        if status == 413 and n > 1:
            # Too large for the server: halve the batch and try again now.
            self.batch.too_large(n)
            self.log.warn("HTTP 413 for %d readings: batch size now %d" % (n, self.batch.n))
            return RETRY
        if kind == DEAD:
            why = _reasons(answer(text).get("rejected") or [])
            short = (text or "")[:120]
            self._each_sent(queue, k, lambda i, rec, at: dead.add(
                reading.to_api(rec, at, cfg, None), "HTTP %d %s" % (status, why.get(i, short))))
            queue.ack(end)
            self.backoff.succeeded()
            self.next_try_ms = up
            self.last_error = "HTTP %d: batch dead-lettered" % status
            return DEAD
        return self._refused(up, status, hdrs, "for %d readings" % n)

    def _refused(self, up, status, hdrs, what):
        """HELD or RETRY for an answer that keeps the readings."""
        self.backoff.failed()
        if retry.classify(status) == HELD:
            self.last_error = "HTTP %d: check api_key, device_id and base_url in config.json" % status
            self._schedule(up, self.cfg["backoff_cap_s"])
            self.log.error("%s; retry in %ds" % (self.last_error, self.last_delay_s))
            return HELD
        self.last_error = "HTTP %d" % status
        self._schedule(up, self.backoff.delay_s(retry.retry_after_s(hdrs)))
        self.log.warn("server answered %d %s; retry in %ds" % (status, what, self.last_delay_s))
        return RETRY

    def send_now(self, rec, at, dead, device, feed):
        """Send one reading now, as a single JSON object, trying as often as
        retry.attempts allows. Leaves the queue's schedule alone. Returns
        SENT, DEAD (dead-lettered) or RETRY (not delivered: the caller
        queues it)."""
        cfg = self.cfg

        def body(out):
            reading.write_json(rec, at, cfg, device, out)
        for attempt in retry.attempts(self.clock, feed):
            try:
                status, _, text = self.http.post(self.url, body, self.headers, cfg["http_timeout_s"])
            except OSError as e:
                self.log.warn("send attempt %d: %s" % (attempt, e))
                continue
            kind = retry.classify(status)
            if kind == SENT:
                res = answer(text)
                if isinstance(res.get("desired"), dict):
                    self.desired = res["desired"]
                rej = res.get("rejected")
                if rej:
                    dead.add(reading.to_api(rec, at, cfg, device), "HTTP %d rejected: %s" % (status, json.dumps(rej)[:120]))
                    return DEAD
                return SENT
            if kind == DEAD:
                dead.add(reading.to_api(rec, at, cfg, device), "HTTP %d %s" % (status, (text or "")[:120]))
                return DEAD
            self.log.warn("send attempt %d: HTTP %d" % (attempt, status))
        return RETRY
