# Helpers shared by the Python tests that run inside the MicroPython VM.
import json
import os

import sim

# 2026-11-20T00:00:00Z: the simulated "true" time at the start of a test.
T0 = 1795132800

BASE_CONFIG = {
    "wifi": [{"ssid": "lab", "password": "pw"}],
    "base_url": "https://thermowatt.test",
    "device_id": "esp32-test",
    "api_key": "devtoken",
    "interval_s": 300,
    "http_timeout_s": 10,
    "wdt_timeout_s": 60,
    "connect_timeout_s": 10,
    "backoff_base_s": 5,
    "backoff_cap_s": 600,
    "batch_size": 10,
    "queue_cap": 200,
    "shunt_ohms": 0.1,
    "max_current_a": 3.2,
}


def setup(epoch=2000, rtc_set=False, up_ms=0, sensors=True, config=True, **cfg):
    """A fresh simulated board. rtc_set: the RTC already holds the true time
    (a soft reset); otherwise it reads its epoch's zero until NTP runs."""
    s = sim.install(epoch=epoch, true_unix=T0, rtc_unix=T0 if rtc_set else None, up_ms=up_ms)
    if sensors:
        s.add_bmp(step_t=16)
        s.add_ina(shunt_raw=1200, bus_reg=(5000 // 4) << 3)  # 5.000 V
    if config:
        write_config(**cfg)
    return s


def write_config(**over):
    c = dict(BASE_CONFIG)
    c.update(over)
    with open("/config.json", "w") as f:
        json.dump(c, f)
    return c


def lines(path):
    try:
        with open(path) as f:
            return [l.rstrip("\n") for l in f]
    except OSError:
        return []


def jsonl(path):
    return [json.loads(l) for l in lines(path) if l]


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class FakeServer:
    """The thermowatt API contract in miniature: stores readings by
    (deviceId, recordedAt), repeats are duplicates; `script` can force
    answers (a list of statuses or callables consumed one per request)."""

    def __init__(self, token="devtoken"):
        self.token = token
        self.rows = {}
        self.script = []
        self.requests = []
        self.lose_answer = 0  # commit, then time out (the answer is lost)

    def install(self):
        import socket
        socket.handler = self.handle
        return self

    def handle(self, method, url, headers, body, timeout):
        self.requests.append((url, headers, body))
        if self.script:
            st = self.script.pop(0)
            if callable(st):
                return st(body)
            if isinstance(st, tuple):
                return st
            if st == "timeout":
                sim.SIM.advance(int(timeout * 1000), False)
                raise OSError(110)
            return st, {}, '{"error":"forced"}'
        if headers.get("Authorization") != "Bearer " + self.token:
            return 401, {}, '{"error":"unauthorized"}'
        docs = json.loads(body)
        if isinstance(docs, dict):
            docs = [docs]
        acc = dup = 0
        rej = []
        for i, d in enumerate(docs):
            at = d.get("recordedAt")
            if not at or at < "2020-01-01":
                rej.append({"index": i, "field": "recordedAt", "message": "before 2020-01-01"})
                continue
            k = (d["deviceId"], at)
            if k in self.rows:
                dup += 1
            else:
                self.rows[k] = d
                acc += 1
        if rej and len(rej) == len(docs):
            return 400, {}, json.dumps({"accepted": 0, "duplicates": 0, "rejected": rej})
        if self.lose_answer:
            self.lose_answer -= 1
            sim.SIM.advance(int(timeout * 1000), False)
            raise OSError(110)
        return 201, {"Content-Type": "application/json"}, json.dumps(
            {"accepted": acc, "duplicates": dup, "rejected": rej})

    def times(self):
        return sorted(k[1] for k in self.rows)
