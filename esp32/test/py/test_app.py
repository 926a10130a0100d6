# The whole firmware loop, as a user of the board would notice it.
import json

import fw

SENT, QUEUING, SENSOR_ERROR, CONFIG_ERROR = (1, 60, 0), (2, 60, 200), (3, 60, 200), (10, 100, 100)


def blinks(sim, pin=2):
    """LED on-times (ms) in order, from the fake Pin's log."""
    out = []
    on_at = None
    for p, v, t in sim.pin_log:
        if p != pin:
            continue
        if v and on_at is None:
            on_at = t
        elif not v and on_at is not None:
            out.append(t - on_at)
            on_at = None
    return out


def on_schedule(trig, interval_ms=300000):
    """Every measurement started within 10 ms of its slot (the first one
    includes the sensor's 3 ms start-up after reset)."""
    return all(abs(t - trig[0] - i * interval_ms) <= 10 for i, t in enumerate(trig))


def boot(max_cycles, server=True, **kw):
    import app
    srv = fw.FakeServer().install() if server else None
    a = app.run(max_cycles=max_cycles)
    return a, srv


def test_readings_are_measured_logged_queued_and_delivered_with_true_times():
    s = fw.setup(epoch=2000)
    a, srv = boot(3)
    # Three intervals: readings at true T0, T0+300, T0+600, the first taken
    # before NTP set the clock and dated from its uptime afterwards.
    assert srv.times() == ["2026-11-20T00:00:00Z", "2026-11-20T00:05:00Z", "2026-11-20T00:10:00Z"], srv.times()
    trig = s.devices[0x76].triggers
    assert on_schedule(trig), trig
    doc = srv.rows[("esp32-test", "2026-11-20T00:05:00Z")]
    assert abs(doc["temperature"] - 25.08) < 0.05, doc
    assert doc["payload"]["voltage_v"] == 5.0
    assert doc["payload"]["current_ma"] > 0 and doc["payload"]["power_mw"] > 0
    dev = doc["payload"]["device"]
    for k in ("firmware", "uptime_s", "free_heap", "rssi_dbm", "queue_depth", "dropped", "last_error", "reset_cause"):
        assert k in dev, k
    assert dev["reset_cause"] == "pwron" and dev["rssi_dbm"] == -61
    assert a.queue.depth == 0
    t = fw.lines("/temp.csv")
    assert t[0] == "recorded_at,boot,uptime_s,temperature_c,pressure_hpa"
    assert len(t) == 4
    assert t[1].startswith(",1,0,25.08,"), t  # before NTP: no date, uptime instead
    assert t[2].startswith("2026-11-20T00:05:00Z,1,300,")
    e = fw.lines("/elect.csv")
    assert e[0] == "recorded_at,boot,uptime_s,voltage_v,current_ma,power_mw"
    assert e[2].startswith("2026-11-20T00:05:00Z,1,300,5.0,")
    assert SENT[1] in blinks(s)
    # The watchdog was started and fed well inside its timeout.
    assert s.wdt.timeout == 60000 and s.wdt.feeds > 3
    assert s.wdt_max_gap < 60000, s.wdt_max_gap
    log = "\n".join(fw.lines("/log.txt"))
    assert "clock set by NTP" in log and "INFO sent 1" in log


def test_same_times_under_the_1970_epoch():
    fw.setup(epoch=1970)
    a, srv = boot(2)
    assert srv.times() == ["2026-11-20T00:00:00Z", "2026-11-20T00:05:00Z"], srv.times()


def test_wifi_down_for_many_intervals_then_everything_arrives_once():
    s = fw.setup()
    s.wifi_up = False
    s.at(12 * 300000 + 1000, lambda: setattr(s, "wifi_up", True))
    a, srv = boot(16)
    times = srv.times()
    assert len(times) == 16 and len(set(times)) == 16
    assert times[0] == "2026-11-20T00:00:00Z" and times[-1] == "2026-11-20T01:15:00Z"
    trig = s.devices[0x76].triggers
    assert len(trig) == 16 and on_schedule(trig), trig  # never delayed
    b = blinks(s)
    assert b.count(60) >= 12 * 2, b  # two short blinks per offline interval
    log = "\n".join(fw.lines("/log.txt"))
    assert "all networks failed" in log


def test_second_network_is_used_when_the_first_is_absent():
    s = fw.setup(wifi=[{"ssid": "gone", "password": "x"}, {"ssid": "phone", "password": "y"}])
    s.ssids = {"phone"}
    a, srv = boot(1)
    assert len(srv.rows) == 1
    import network
    assert [c[0] for c in network.WLAN.connects][:2] == ["gone", "phone"]


def test_a_missing_sensor_sends_nulls_and_the_other_sensors_values():
    s = fw.setup()
    del s.devices[0x76]
    a, srv = boot(2)
    assert len(srv.rows) == 2
    doc = srv.rows[("esp32-test", "2026-11-20T00:00:00Z")]
    assert doc["temperature"] is None
    assert "ENODEV" in doc["payload"]["sensor"]["bmp280"]["error"] or "19" in doc["payload"]["sensor"]["bmp280"]["error"]
    assert doc["payload"]["voltage_v"] == 5.0
    assert 180 in [x * 3 for x in blinks(s)] or blinks(s).count(60) >= 3
    assert "ERROR BMP280 at 0x76" in "\n".join(fw.lines("/log.txt"))
    # Plugged back in: the next boot's readings have temperatures again.
    s.add_bmp()
    s.wdt = None
    a, srv2 = boot(1)
    assert all(d["temperature"] is not None for d in srv2.rows.values())


def test_a_sensor_failing_mid_run_recovers_without_restart():
    s = fw.setup()
    ina = s.devices[0x40]
    s.at(250000, lambda: setattr(ina, "fail", True))
    s.at(550000, lambda: setattr(ina, "fail", False))
    a, srv = boot(3)
    v = [srv.rows[("esp32-test", t)]["payload"]["voltage_v"] for t in srv.times()]
    assert v == [5.0, None, 5.0], v


def test_measurements_keep_their_schedule_while_the_server_times_out():
    # With this seed a jittered retry comes due 4 ms before a measurement's
    # slot: the loop must wake for the slot, not nap past it.
    import random
    random.seed(23)
    s = fw.setup(http_timeout_s=30, wdt_timeout_s=120)
    import app
    srv = fw.FakeServer().install()
    srv.script = ["timeout"] * 6  # 30 s each, as a dead link or a sleeping Render service
    a = app.run(max_cycles=12)
    trig = s.devices[0x76].triggers
    assert len(trig) == 12 and on_schedule(trig), trig
    assert len(srv.rows) == 12
    assert s.wdt_max_gap < 120000
    # isconnected() stayed True, but three dead requests in a row made the
    # firmware drop and rejoin the network.
    assert "link looks dead" in "\n".join(fw.lines("/log.txt"))


def test_missing_config_is_reported_by_log_and_led_without_crash_loop():
    s = fw.setup(config=False)
    import app
    assert app.run(max_cycles=2) is None
    log = fw.lines("/log.txt")
    assert any("config.json not found" in l and "ERROR" in l for l in log), log
    assert blinks(s).count(100) >= 20  # fast flashing
    assert s.wdt is None  # no watchdog: no reset loop


def test_invalid_config_names_every_problem_then_starts_once_fixed():
    s = fw.setup(base_url="http://insecure.test", batch_size=0, api_key="")
    import app
    fixed = lambda: fw.write_config()
    s.at(20000, fixed)
    srv = fw.FakeServer().install()
    a = app.run(max_cycles=3)
    log = "\n".join(fw.lines("/log.txt"))
    assert "base_url must start with https://" in log
    assert "batch_size must be between 1 and 500" in log
    assert "api_key is required" in log
    assert "config.json is valid now" in log
    assert len(srv.rows) == 2  # the remaining cycles ran normally


def test_reading_from_a_boot_that_never_got_the_time_is_never_sent_with_a_wrong_date():
    s = fw.setup()
    s.wifi_up = False
    a, srv = boot(2)
    assert len(srv.rows) == 0
    s.power_cut()
    s.wdt = None
    s.wifi_up = True
    a, srv = boot(1)
    assert srv.times() == ["2026-11-20T00:10:00Z"], srv.times()
    dl = fw.jsonl("/deadletter.jsonl")
    assert len(dl) == 2 and "time unknown" in dl[0]["reason"]
    assert dl[0]["reading"]["recordedAt"] is None


def test_csv_and_log_files_are_rotated_and_capped():
    s = fw.setup(csv_max_bytes=1024, csv_keep=2, log_max_bytes=2048)
    import os
    with open("/temp.csv", "w") as f:
        f.write("time,temp\n1,2\n")  # the seed firmware's file
    a, srv = boot(60)
    names = os.listdir("/")
    assert "temp.csv" in names and "temp.1.csv" in names and "temp.2.csv" in names
    assert "temp.3.csv" not in names
    for n in ("temp.csv", "temp.1.csv", "temp.2.csv", "elect.csv", "elect.1.csv"):
        assert os.stat("/" + n)[6] <= 1024, n
        assert fw.lines("/" + n)[0].startswith("recorded_at,boot,uptime_s,"), n
    assert os.stat("/log.txt")[6] <= 2048 and os.stat("/log.txt.1")[6] <= 2048
    assert "log.txt.2" not in names


def test_full_queue_drops_oldest_and_reports_the_count_to_the_server():
    s = fw.setup(queue_cap=16)
    s.wifi_up = False
    s.ntp_ok = True
    s.at(40 * 300000 + 1000, lambda: setattr(s, "wifi_up", True))
    a, srv = boot(42)
    assert a.queue.dropped > 0
    last = srv.rows[("esp32-test", srv.times()[-1])]
    assert last["payload"]["device"]["dropped"] == a.queue.dropped
    assert len(srv.rows) == 42 - a.queue.dropped


def test_boot_and_main_start_the_application_as_on_the_board():
    s = fw.setup()
    srv = fw.FakeServer().install()

    def unplug():
        raise KeyboardInterrupt  # Ctrl-C on the serial console
    s.at(2 * 300000 + 60000, unplug)
    exec(open("/boot.py").read(), {})
    try:
        exec(open("/main.py").read(), {})
        assert False, "main.py returned: the board would fall into the REPL"
    except KeyboardInterrupt:
        pass
    assert srv.times() == ["2026-11-20T00:00:00Z", "2026-11-20T00:05:00Z", "2026-11-20T00:10:00Z"]


def test_an_unexpected_error_is_logged_and_the_loop_goes_on():
    s = fw.setup()
    import app
    srv = fw.FakeServer().install()
    boom = [2]

    def broken(*a, **kw):
        if boom[0]:
            boom[0] -= 1
            raise MemoryError("memory allocation failed")
        return orig(*a, **kw)
    import uplink
    orig = uplink.Uplink.send_next
    uplink.Uplink.send_next = broken
    a = app.run(max_cycles=2)
    assert len(srv.rows) == 2
    log = "\n".join(fw.lines("/log.txt"))
    assert "ERROR unexpected MemoryError: memory allocation failed (1 in a row)" in log, log
    assert s.wdt_max_gap < 60000


def test_a_garbled_http_answer_is_retried_not_fatal():
    s = fw.setup()
    import app
    srv = fw.FakeServer().install()

    def garbled(body):
        raise ValueError("invalid status line")
    srv.script = [garbled]
    a = app.run(max_cycles=2)
    assert len(srv.rows) == 2
    assert "HTTP client error: ValueError" in "\n".join(fw.lines("/log.txt"))


def test_a_wrong_token_keeps_the_readings_and_shows_the_error():
    s = fw.setup(api_key="wrong-token")
    a, srv = boot(3)
    assert srv.rows == {}
    assert a.queue.depth == 3 and not fw.exists("/deadletter.jsonl")
    assert 800 in blinks(s)  # one long blink
    log = "\n".join(fw.lines("/log.txt"))
    assert "ERROR HTTP 401: check api_key, device_id and base_url in config.json" in log, log


def test_a_sleeping_render_service_is_carried_through_its_cold_start():
    # Render's free tier sleeps after 15 idle minutes and needs up to a
    # minute to wake: requests during the wake-up time out (30 s each).
    s = fw.setup(http_timeout_s=30, wdt_timeout_s=120)
    import app
    srv = fw.FakeServer().install()
    real = srv.handle
    state = {"awake_at": None}

    def render(method, url, headers, body, timeout):
        if state["awake_at"] is None:
            state["awake_at"] = s.up_ms + 60000  # the first request wakes it
        if s.up_ms < state["awake_at"]:
            s.advance(int(timeout * 1000), False)
            raise OSError(110)
        state.setdefault("delivered_at", s.up_ms)
        return real(method, url, headers, body, timeout)
    import socket
    socket.handler = render
    a = app.run(max_cycles=2)
    assert srv.times() == ["2026-11-20T00:00:00Z", "2026-11-20T00:05:00Z"]
    assert state["delivered_at"] < 120000, state  # within two minutes of the first try
    assert on_schedule(s.devices[0x76].triggers)
    assert "ETIMEDOUT" in "\n".join(fw.lines("/log.txt"))


def test_a_broken_csv_file_does_not_cost_the_reading():
    import os
    s = fw.setup()
    os.mkdir("/temp.csv")  # cannot be opened as a file
    a, srv = boot(2)
    assert len(srv.rows) == 2
    assert "ERROR CSV write failed" in "\n".join(fw.lines("/log.txt"))


def test_sends_that_keep_failing_for_lack_of_memory_end_in_a_reset():
    s = fw.setup(batch_size=4)
    srv = fw.FakeServer().install()
    import app, socket
    socket.memory_limit = 50  # not even one reading fits
    try:
        app.run(max_cycles=6)
        assert False, "the board kept running with sends that can never succeed"
    except SystemExit as e:
        assert "machine.reset" in str(e)
    log = "\n".join(fw.lines("/log.txt"))
    assert "out of memory sending 1 readings" in log or "batch size now 1" in log, log
    assert "unexpected MemoryError" in log and "(10 in a row)" in log, log
    assert "too many unexpected errors: resetting the board" in log
    assert srv.rows == {}
    assert s.up_ms < 2 * 300000, s.up_ms  # within the first intervals, not never


def test_an_error_escaping_the_application_is_logged_and_the_board_resets():
    # A MemoryError while importing config.py at start (before the
    # watchdog runs) must not leave the board at the REPL.
    s = fw.setup()
    import app

    def out_of_memory(*a, **kw):
        raise MemoryError("memory allocation failed, allocating 2048 bytes")
    app.run = out_of_memory
    start = s.up_ms
    try:
        exec(open("/main.py").read(), {"__name__": "__main__"})
        assert False, "main.py returned: the board would sit at the REPL"
    except SystemExit as e:
        assert "machine.reset" in str(e), e
    assert s.up_ms - start >= 5000, "no pause before the reset"
    log = "\n".join(fw.lines("/log.txt"))
    assert "FATAL MemoryError: memory allocation failed" in log, log


def test_wifi_counts_as_up_only_once_the_link_has_held():
    s = fw.setup()
    import status, clock, wifi, network, fw as _fw
    cfg = dict(_fw.BASE_CONFIG)
    log = status.Log(clock.Clock("/bootclock"), "/log.txt")
    w = wifi.Wifi(cfg, log)
    assert w.tick(s.up_ms) is False  # starts connecting
    s.advance(s.wifi_join_ms)  # the interface reports connected now
    assert w.wlan.isconnected()
    assert w.tick(s.up_ms) is False and not w.connected()  # not yet: it may flicker
    s.advance(1000)
    assert w.tick(s.up_ms) is False
    s.advance(2500)
    assert w.tick(s.up_ms) is True and w.connected()
    assert "connected to 'lab'" in "\n".join(fw.lines("/log.txt"))


def test_a_flickering_link_is_not_used_for_sending():
    s = fw.setup()
    srv = fw.FakeServer().install()
    import network

    real = network.WLAN.isconnected
    flick = {"n": 0}

    def flickering(self):
        # Up for one poll, down for the next: associated but never stable.
        flick["n"] += 1
        return real(self) and flick["n"] % 2 == 0
    network.WLAN.isconnected = flickering
    import app
    a = app.run(max_cycles=2)
    assert srv.requests == [], "sent over a link that never held"
    assert a.queue.depth == 2
    assert "connected to" not in "\n".join(fw.lines("/log.txt"))


def test_a_wifi_error_status_ends_the_attempt_and_pauses():
    s = fw.setup(wifi=[{"ssid": "lab", "password": "wrong"}], connect_timeout_s=20)
    import status, clock, wifi, network
    s.wifi_status = network.STAT_WRONG_PASSWORD
    cfg = {"wifi": [{"ssid": "lab", "password": "wrong"}], "connect_timeout_s": 20}
    log = status.Log(clock.Clock("/bootclock"), "/log.txt")
    w = wifi.Wifi(cfg, log)
    network.WLAN.connects = []
    up = 0
    while up < 30000:
        w.tick(s.up_ms)
        nxt = w.next_event_ms(s.up_ms)
        s.advance(max(20, nxt - s.up_ms))
        up = s.up_ms
    # Without the status check: one attempt per 20 s timeout, and the next
    # round 5 s later; with it: the attempt ends at once, then a 10 s pause.
    times = [t for _, t in network.WLAN.connects]
    assert len(times) >= 2, times
    assert all(b - a >= 10000 for a, b in zip(times, times[1:])), times
    assert times[1] - times[0] < 20000, times
    log_text = "\n".join(fw.lines("/log.txt"))
    assert "failed with status 202" in log_text, log_text
