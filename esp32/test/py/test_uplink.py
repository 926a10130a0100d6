# Delivery decisions: what each server answer does to the queue.
import json

import fw


class Parts:
    def __init__(self, **cfg):
        self.sim = fw.setup(rtc_set=True, **cfg)
        import config, clock, status, flashqueue, deadletter, uplink, retry, socket
        self.cfg, problems = config.load("/config.json")
        assert not problems, problems
        self.clock = clock.Clock("/q/bootclock")
        self.log = status.Log(self.clock, "/log.txt")
        self.q = flashqueue.FlashQueue("/q", self.cfg["queue_cap"])
        self.clock.boot = self.q.boot
        self.dead = deadletter.DeadLetter("/deadletter.jsonl")
        self.up = uplink.Uplink(self.cfg, self.clock, self.log, rand=lambda: 0.5)
        self.uplink = uplink
        self.retry = retry
        self.socket = socket
        self.server = fw.FakeServer().install()

    def add(self, n, start=0):
        import reading
        for i in range(start, start + n):
            self.q.append(reading.make(self.q.boot, i, self.clock.unix() + 300 * i,
                                       (20.0 + i / 10, 1000.0), (5.0, 100.0, 500.0)))

    def send(self):
        return self.up.send_next(self.q, self.dead, {"queue_depth": self.q.depth})


def test_batch_is_posted_with_bearer_token_and_seed_data_model():
    p = Parts()
    p.add(12)
    assert p.send() == p.uplink.SENT
    url, headers, body = p.server.requests[0]
    assert url == "https://thermowatt.test/api/measurements"
    assert headers["Authorization"] == "Bearer devtoken"
    assert headers["Content-Type"] == "application/json"
    docs = json.loads(body)
    assert len(docs) == 10  # batch_size
    d = docs[0]
    assert d["deviceId"] == "esp32-test"
    assert d["recordedAt"] == "2026-11-20T00:00:00Z"
    assert d["temperature"] == 20.0 and d["humidity"] is None
    pl = d["payload"]
    assert (pl["voltage_v"], pl["current_ma"], pl["power_mw"]) == (5.0, 100.0, 500.0)
    assert pl["sensor"]["bmp280"] == {"temperature_c": 20.0, "pressure_hpa": 1000.0}
    assert pl["sensor"]["ina219"]["shunt_ohms"] == 0.1
    assert docs[-1]["payload"]["device"]["queue_depth"] == 12  # device health rides once per batch,
    assert all("device" not in d["payload"] for d in docs[:-1])  # on its last reading (fleet contract)
    assert p.q.depth == 2
    assert p.send() == p.uplink.SENT
    assert p.q.depth == 0 and len(p.server.rows) == 12
    assert p.socket.open_sockets() == []


def test_server_errors_keep_the_batch_and_back_off_exponentially_with_cap():
    p = Parts(backoff_base_s=5, backoff_cap_s=60)
    p.add(3)
    p.server.script = [500, 502, 503, 500, 500, 500]
    delays = []
    for _ in range(6):
        assert p.send() == p.uplink.RETRY
        delays.append(p.up.last_delay_s)
        assert not p.up.due(p.clock.uptime_ms())
        assert p.q.depth == 3
    # equal jitter with rand=0.5: 0.75 x min(cap, 5 * 2**n)
    assert delays == [3.75, 7.5, 15.0, 30.0, 45.0, 45.0], delays
    assert p.send() == p.uplink.SENT
    assert p.up.failures == 0 and p.q.depth == 0
    assert p.socket.open_sockets() == []


def test_jitter_spreads_retries_between_half_and_full_delay():
    p = Parts(backoff_base_s=10, backoff_cap_s=600)
    p.up.backoff.failures = 3
    for r, want in ((0.0, 20.0), (0.999, 39.98)):
        p.up.backoff.rand = lambda r=r: r
        assert abs(p.up.backoff.delay_s() - want) < 0.01


def test_429_and_503_honour_retry_after():
    p = Parts()
    p.add(2)
    p.server.script = [(429, {"Retry-After": "120"}, "{}"), (503, {"retry-after": "30"}, "{}")]
    assert p.send() == p.uplink.RETRY
    assert 120 <= p.up.last_delay_s <= 132
    assert p.send() == p.uplink.RETRY
    assert 30 <= p.up.last_delay_s <= 33
    assert p.q.depth == 2


def test_timeout_after_commit_resends_and_server_counts_a_duplicate():
    p = Parts()
    p.add(4)
    p.server.lose_answer = 1
    assert p.send() == p.uplink.RETRY
    assert p.q.depth == 4 and len(p.server.rows) == 4  # committed, answer lost
    assert "network" in p.up.last_error
    assert p.send() == p.uplink.SENT
    assert p.q.depth == 0 and len(p.server.rows) == 4  # still exactly once


def test_400_batch_goes_to_dead_letter_and_the_queue_moves_on():
    p = Parts(batch_size=2)
    p.add(4)
    p.server.script = [(400, {}, '{"error":"invalid JSON"}')]
    assert p.send() == p.uplink.DEAD
    dl = fw.jsonl("/deadletter.jsonl")
    assert len(dl) == 2 and "HTTP 400" in dl[0]["reason"]
    assert dl[0]["reading"]["recordedAt"] == "2026-11-20T00:00:00Z"
    assert p.send() == p.uplink.SENT
    assert p.q.depth == 0 and len(p.server.rows) == 2


def test_partially_rejected_batch_dead_letters_exactly_those_readings():
    p = Parts()
    p.add(3)
    import reading
    p.q.append({"b": p.q.boot, "u": 9, "t": 21.0, "src": "seed", "at": "2019-06-01T00:00:00Z"})
    p.add(2, start=3)
    assert p.send() == p.uplink.SENT
    assert len(p.server.rows) == 5
    dl = fw.jsonl("/deadletter.jsonl")
    assert len(dl) == 1, dl
    assert dl[0]["reading"]["recordedAt"] == "2019-06-01T00:00:00Z"
    assert "recordedAt" in dl[0]["reason"]
    assert p.q.depth == 0


def test_auth_failure_holds_the_queue_instead_of_discarding_it():
    p = Parts()
    p.add(3)
    p.server.token = "rotated"
    assert p.send() == p.uplink.HELD
    assert p.q.depth == 3 and not fw.exists("/deadletter.jsonl")
    assert "api_key" in p.up.last_error
    assert p.up.last_delay_s == p.cfg["backoff_cap_s"]


def test_413_halves_the_batch():
    p = Parts(batch_size=8)
    p.add(8)
    p.server.script = [413]
    assert p.send() == p.uplink.RETRY
    assert p.up.batch_size == 4
    assert p.send() == p.uplink.SENT
    assert len(json.loads(p.server.requests[-1][2])) == 4


def test_socket_error_and_dead_wifi_link_are_retried():
    p = Parts()
    p.add(1)
    p.server.script = ["timeout"]
    assert p.send() == p.uplink.RETRY
    p.sim.wifi_up = False
    assert p.send() == p.uplink.RETRY
    assert p.up.net_failures == 2
    p.sim.wifi_up = True
    assert p.send() == p.uplink.SENT


def test_every_response_is_closed_even_when_reading_the_body_fails():
    p = Parts()
    p.add(1)
    p.server.script = [(201, {}, OSError(113))]  # headers came, then the link died
    assert p.send() == p.uplink.RETRY
    assert p.socket.open_sockets() == []
    assert p.q.depth == 1


def test_status_classification_follows_the_contract():
    p = Parts()
    c = p.retry.classify
    assert [c(s) for s in (200, 201, 204)] == ["sent"] * 3
    assert [c(s) for s in (408, 429, 500, 502, 503, 504)] == ["retry"] * 6
    assert [c(s) for s in (400, 409, 413, 422)] == ["dead"] * 4
    assert [c(s) for s in (401, 403, 404)] == ["held"] * 3
    assert p.retry.retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None


def test_a_heap_too_small_for_a_full_batch_sends_it_in_halves_then_grows_back():
    p = Parts(batch_size=20, queue_cap=200)
    p.add(20)
    import socket
    one = 250  # bytes on the wire per reading, about
    socket.memory_limit = 7 * one  # room for a request of up to ~6 readings
    outcomes = []
    for _ in range(10):
        outcomes.append(p.send())
        if not p.q.depth:
            break
    assert p.q.depth == 0 and len(p.server.rows) == 20, (outcomes, p.q.depth)
    sizes = [len(json.loads(r[2])) for r in p.server.requests]
    assert sizes == [5, 5, 5, 5], sizes  # 20 -> 10 -> 5: it grows back only after 3 sends
    assert outcomes[:2] == ["retry", "retry"], outcomes
    assert p.socket.open_sockets() == []
    assert "out of memory sending 20 readings: batch size now 10" in "\n".join(fw.lines("/log.txt"))
    # The heap is back: after a few good sends the batch doubles again.
    socket.memory_limit = None
    p.add(40, start=20)
    sizes_before = len(p.server.requests)
    for _ in range(8):
        p.send()
    sizes = [len(json.loads(r[2])) for r in p.server.requests[sizes_before:]]
    assert sizes == [10, 10, 20], sizes  # 10 after three sends at 5, 20 after three at 10


def test_memory_error_for_a_single_reading_is_raised_for_the_loop_to_count():
    p = Parts(batch_size=2)
    p.add(2)
    import socket
    socket.memory_limit = 10
    assert p.send() == "retry"  # 2 -> 1
    try:
        p.send()
        assert False, "a MemoryError at one reading must reach the loop"
    except MemoryError:
        pass
    assert p.q.depth == 2 and p.socket.open_sockets() == []


def test_a_lost_answer_closes_the_socket_and_is_retried():
    p = Parts()
    p.add(2)
    p.server.script = [lambda body: b""]  # the connection closed before any status line
    assert p.send() == p.uplink.RETRY
    assert len(p.socket.calls) == 1 and p.socket.open_sockets() == []
    assert "connection closed before the HTTP status line" in p.up.last_error, p.up.last_error
    p.server.script = [lambda body: b"HTTP/1.1 20"]  # cut inside the status line
    assert p.send() == p.uplink.RETRY
    assert p.socket.open_sockets() == [] and p.q.depth == 2
    assert p.send() == p.uplink.SENT


def test_the_server_address_is_looked_up_once_and_again_after_a_failure():
    p = Parts()
    import socket
    for i in range(3):
        p.add(1, start=i)
        assert p.send() == p.uplink.SENT
    assert socket.lookups == [("thermowatt.test", 443)], socket.lookups
    p.add(1, start=3)
    socket.connect_error = OSError(113)  # EHOSTUNREACH: the address may have moved
    assert p.send() == p.uplink.RETRY
    socket.connect_error = None
    assert p.send() == p.uplink.SENT
    assert len(socket.lookups) == 2, socket.lookups
    # While Wi-Fi is down a lookup would block: a known address is reused.
    p.add(1, start=4)
    p.sim.wifi_up = False
    assert p.send() == p.uplink.RETRY
    assert len(socket.lookups) == 2, socket.lookups
    assert socket.open_sockets() == []
