# The seed's send_temperature_to_render(temp_c, recorded_at=None).
import json

import fw


def _app(server=True, **cfg):
    s = fw.setup(rtc_set=True, **cfg)
    import app
    srv = fw.FakeServer().install() if server else None
    a = app.build()
    return s, a, srv


def test_sends_one_reading_with_the_current_time():
    s, a, srv = _app()
    from render_api import send_temperature_to_render
    assert send_temperature_to_render(24.3) is True
    d = srv.rows[("esp32-test", "2026-11-20T00:00:00Z")]
    assert d["temperature"] == 24.3
    assert d["payload"]["sensor"]["bmp280"] == {"temperature_c": 24.3}
    url, headers, body = srv.requests[0]
    assert headers["Authorization"] == "Bearer devtoken"
    assert isinstance(json.loads(body), dict)  # one reading, as the seed describes


def test_keeps_an_explicit_recorded_at():
    s, a, srv = _app()
    from render_api import send_temperature_to_render
    assert send_temperature_to_render(21.0, "2025-02-05T09:30:00+09:00")
    assert ("esp32-test", "2025-02-05T09:30:00+09:00") in srv.rows


def test_a_malformed_recorded_at_is_refused_at_once():
    s, a, srv = _app()
    from render_api import send_temperature_to_render
    try:
        send_temperature_to_render(21.0, "05/02/2025 09:30")
        assert False, "accepted a malformed time"
    except ValueError as e:
        assert "RFC 3339" in str(e)
    assert srv.requests == [] and a.queue.depth == 0


def test_three_attempts_one_second_apart_then_the_flash_queue():
    s, a, srv = _app()
    srv.script = [500, 503, "timeout"]
    from render_api import send_temperature_to_render
    import socket
    assert send_temperature_to_render(23.5) is False
    ups = [c["up_ms"] for c in socket.calls]
    assert len(ups) == 3
    assert ups[1] - ups[0] == 1000 and ups[2] - ups[1] == 1000, ups
    assert a.queue.depth == 1
    assert socket.open_sockets() == []
    # Delivered later through the same queue, with its original time.
    assert a.uplink.send_next(a.queue, a.dead, a.health()) == "sent"
    assert srv.times() == ["2026-11-20T00:00:00Z"]


def test_a_rejected_reading_goes_to_the_dead_letter_file():
    s, a, srv = _app()
    from render_api import send_temperature_to_render
    assert send_temperature_to_render(20.0, "2019-01-01T00:00:00Z") is False
    dl = fw.jsonl("/deadletter.jsonl")
    assert len(dl) == 1 and "HTTP 400" in dl[0]["reason"]
    assert a.queue.depth == 0  # never retried


def test_before_the_clock_is_set_it_waits_instead_of_sending_a_wrong_date():
    s = fw.setup()
    import app
    srv = fw.FakeServer().install()
    a = app.build()
    from render_api import send_temperature_to_render
    assert send_temperature_to_render(22.0) is False
    assert srv.requests == []
    assert a.uplink.send_next(a.queue, a.dead, None) == "wait"
    s.advance(60000)
    s.ntp_set()
    a.clock.mark_synced()
    assert a.uplink.send_next(a.queue, a.dead, None) == "sent"
    assert srv.times() == ["2026-11-20T00:00:00Z"]  # its real time, from uptime


def test_a_non_finite_temperature_is_sent_as_null_and_never_queued_as_nan():
    s, a, srv = _app()
    from render_api import send_temperature_to_render
    assert send_temperature_to_render(float("nan")) is True
    d = srv.rows[("esp32-test", "2026-11-20T00:00:00Z")]
    assert d["temperature"] is None and d["payload"]["non_finite"] == ["temperature_c"], d
    srv.script = [500, 500, 500]
    assert send_temperature_to_render(float("inf"), "2026-11-20T00:01:00Z") is False
    assert a.queue.depth == 1
    srv.script = []
    assert a.uplink.send_next(a.queue, a.dead, a.health()) == "sent"
    d = srv.rows[("esp32-test", "2026-11-20T00:01:00Z")]
    assert d["temperature"] is None and d["payload"]["non_finite"] == ["temperature_c"], d


def test_the_led_shows_a_direct_send_as_it_shows_the_loops_sends():
    # send_temperature_to_render goes through App.send_now, which shares the
    # loop's decision (App._sent): delivered is SENT, refused for good is
    # SERVER_ERROR, as for a batch.
    s, a, srv = _app()
    import status
    shown = []
    a.led.show = shown.append
    from render_api import send_temperature_to_render
    assert send_temperature_to_render(24.0) is True
    assert send_temperature_to_render(20.0, "2019-01-01T00:00:00Z") is False
    assert shown == [status.SENT, status.SERVER_ERROR], shown
