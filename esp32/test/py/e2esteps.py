# The device side of the end-to-end test (test/e2e.test.mjs): three boots of
# the real firmware, talking over real HTTP (through the fault proxy) to a
# real `thermowatt serve`. Faults inside a boot are scheduled on the
# simulated clock; the proxy is steered through the same HTTP bridge.
import json

import sim

IV = 300000  # interval_s = 300, in ms
S = {}
CTL = None


def fault(mode, count):
    import jsbridge
    jsbridge.http("POST", CTL + "/__fault", "{}", json.dumps({"mode": mode, "count": count}), 5000)


def _start(true_ms, rtc_kept, ctl):
    global CTL
    CTL = ctl
    s = sim.install(epoch=2000, true_ms=true_ms, rtc_unix="true" if rtc_kept else None)
    s.add_bmp(step_t=37)  # the temperature creeps up a little every reading
    s.add_ina(shunt_raw=1500, bus_reg=(4980 // 4) << 3)
    S.clear()
    S["seed"] = []
    return s


def _seed(temp, at=None):
    from render_api import send_temperature_to_render
    from clock import iso_utc
    import clock
    now = iso_utc(sim.SIM.true_ms // 1000)
    ok = send_temperature_to_render(temp, at)
    S["seed"].append({"temp": temp, "at": at or now, "ok": ok})


def _finish(a):
    s = sim.SIM
    S["true_ms"] = s.true_ms
    S["triggers"] = s.devices[0x76].triggers
    S["depth"] = a.queue.depth
    S["wdt_max_gap"] = s.wdt_max_gap


def boot1(true_ms, ctl):
    """Fresh board, RTC unset, Wi-Fi down for the first 10 intervals; then a
    direct send, a 400, a burst of 500s that also catches the seed function,
    and an answer lost after the server committed."""
    s = _start(true_ms, False, ctl)
    s.wifi_up = False
    s.at(10 * IV + 1000, lambda: setattr(s, "wifi_up", True))
    s.at(12 * IV + 150000, lambda: _seed(22.2))  # delivered at once
    s.at(13 * IV + 150000, lambda: _seed(18.0, "2019-06-01T00:00:00Z"))  # 400 -> dead letter

    def burst():
        fault("500", 8)
        _seed(19.5, "2019-05-01T00:00:00Z")  # 3 x 500 -> queued; later rejected inside a 201 batch
    s.at(14 * IV + 250000, burst)  # its retries straddle the next reading: a mixed batch
    s.at(18 * IV + 100000, lambda: fault("lose", 1))
    import app
    a = app.run(max_cycles=24)
    _finish(a)


def boot2(true_ms, ctl):
    """A soft reset (the RTC kept its time) while the server is down."""
    _start(true_ms, True, ctl)
    import app
    a = app.run(max_cycles=6)
    _finish(a)


def boot3(true_ms, ctl):
    """After a power cut: the RTC starts at 2000-01-01 again; the server is back."""
    _start(true_ms, False, ctl)
    import app
    a = app.run(max_cycles=12)
    _finish(a)
