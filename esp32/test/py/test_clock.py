# Timestamps must be right whichever epoch the port counts from.
import fw


def _now_iso(epoch):
    s = fw.setup(epoch=epoch, rtc_set=True)
    import clock
    c = clock.Clock("/bootclock")
    return s, clock, c


def test_esp32_epoch_2000_gives_true_utc():
    s, clock, c = _now_iso(2000)
    import time
    assert time.gmtime(0)[0] == 2000
    assert time.time() == fw.T0 - 946684800  # what the ESP32 port returns
    assert clock.EPOCH_OFFSET == 946684800
    assert c.unix() == fw.T0
    assert clock.iso_utc(c.unix()) == "2026-11-20T00:00:00Z"


def test_unix_epoch_1970_gives_true_utc():
    s, clock, c = _now_iso(1970)
    import time
    assert time.gmtime(0)[0] == 1970
    assert clock.EPOCH_OFFSET == 0
    assert clock.iso_utc(c.unix()) == "2026-11-20T00:00:00Z"


def test_real_webassembly_clock_agrees_with_iso_utc():
    # No fake here: the VM's own time module (1970 epoch).
    import time
    import clock
    t = int(time.time())
    g = time.gmtime(t)
    assert clock.iso_utc(t) == "%04d-%02d-%02dT%02d:%02d:%02dZ" % g[:6]


def test_iso_utc_and_parse_iso_round_trip_across_calendar_edges():
    fw.setup()
    import clock
    cases = [
        (0, "1970-01-01T00:00:00Z"),
        (946684800, "2000-01-01T00:00:00Z"),
        (951782400, "2000-02-29T00:00:00Z"),
        (1709164799, "2024-02-28T23:59:59Z"),
        (1709251200, "2024-03-01T00:00:00Z"),
        (4102444800, "2100-01-01T00:00:00Z"),
    ]
    for t, s in cases:
        assert clock.iso_utc(t) == s, (t, clock.iso_utc(t))
        assert clock.parse_iso(s) == t, s
    assert clock.parse_iso("2025-02-05T09:30:00+09:00") == clock.parse_iso("2025-02-05T00:30:00Z")
    assert clock.parse_iso("2025-02-05T00:30:00.250Z") == clock.parse_iso("2025-02-05T00:30:00Z")
    for bad in ("yesterday", "2025-02-05", "2025-02-05T00:30:00+9"):
        try:
            clock.parse_iso(bad)
            assert False, bad
        except ValueError:
            pass


def _unset_rtc_not_trusted(epoch):
    s = fw.setup(epoch=epoch)
    import clock
    c = clock.Clock("/bootclock")
    assert not c.valid(), epoch
    s.ntp_set()
    assert c.valid()


def test_unset_rtc_is_not_trusted_until_ntp_epoch_2000():
    _unset_rtc_not_trusted(2000)


def test_unset_rtc_is_not_trusted_until_ntp_epoch_1970():
    _unset_rtc_not_trusted(1970)


def _dated_from_uptime(epoch):
    s = fw.setup(epoch=epoch)
    import clock
    c = clock.Clock("/bc")
    c.boot = 7
    taken_up = c.uptime_ms()
    taken_true = s.true_unix()
    s.advance(3 * 3600 * 1000 + 123)  # three hours offline
    s.ntp_set()
    c.mark_synced()
    assert clock.iso_utc(c.resolve(7, taken_up)) == clock.iso_utc(taken_true)
    assert clock.iso_utc(taken_true) == "2026-11-20T00:00:00Z"
    # The mapping is on flash: the next boot can still date boot 7.
    c2 = clock.Clock("/bc")
    assert c2.resolve(7, taken_up) == taken_true
    assert c2.resolve(8, 0) is None


def test_readings_before_sync_get_their_true_time_epoch_2000():
    _dated_from_uptime(2000)


def test_readings_before_sync_get_their_true_time_epoch_1970():
    _dated_from_uptime(1970)


def test_uptime_survives_ticks_wraparound():
    s = fw.setup(up_ms=(1 << 30) - 5000)  # ticks_ms wraps in 5 s
    import clock
    c = clock.Clock("/bc")
    start = c.uptime_ms()
    for _ in range(10):
        s.advance(1000)
        c.uptime_ms()
    assert c.uptime_ms() - start == 10000
