# The queued record and the API document it becomes.
import json

import fw


def _cfg():
    import config
    c, p = config.load("/config.json")
    assert not p, p
    return c


def test_fast_serialiser_matches_the_dict_form_for_every_kind_of_reading():
    fw.setup()
    import reading
    cfg = _cfg()
    recs = [
        reading.make(1, 5, fw.T0, (21.5, 1001.25), (4.98, 120.4, 600.5)),
        reading.make(1, 5, fw.T0, None, (4.98, -3.5, 0.0), bmp_err='BMP280 at 0x76: [Errno 19] ENODEV "x"'),
        reading.make(1, 5, fw.T0, (21.5, 1001.25), None, ina_err="INA219 at 0x40: overflow"),
        {"b": 1, "u": 9, "t": 21.0, "src": "direct", "at": "2025-02-05T09:30:00+09:00"},
    ]
    dev = {"firmware": "x", "queue_depth": 3, "last_error": None}
    for r in recs:
        for d in (None, dev):
            at = reading.recorded_at(r, None) if "at" in r else "2026-11-20T00:00:00Z"
            fast = json.loads(reading.to_json(r, at, cfg, d))
            slow = reading.to_api(r, at, cfg, d)
            assert fast == slow, (fast, slow)


def test_seed_data_model_fields_and_units():
    fw.setup()
    import reading
    doc = reading.to_api(reading.make(1, 0, fw.T0, (24.3, 1012.3), (4.98, 120.4, 600.5)),
                         "2026-11-20T00:00:00Z", _cfg(), None)
    assert doc == {
        "deviceId": "esp32-test", "recordedAt": "2026-11-20T00:00:00Z",
        "temperature": 24.3, "humidity": None,
        "payload": {"voltage_v": 4.98, "current_ma": 120.4, "power_mw": 600.5,
                    "sensor": {"bmp280": {"temperature_c": 24.3, "pressure_hpa": 1012.3},
                               "ina219": {"shunt_ohms": 0.1, "max_current_a": 3.2}}}}, doc


def test_nan_and_infinity_never_reach_the_queue_and_are_sent_as_null_with_a_note():
    fw.setup()
    import reading
    nan, inf = float("nan"), float("inf")
    rec = reading.make(1, 5, fw.T0, (nan, 1001.25), (4.98, -inf, inf))
    line = json.dumps(rec)
    assert "nan" not in line.lower() and "inf" not in line.lower(), line
    assert json.loads(line) == rec  # it reads back from the queue
    assert rec["nf"] == ["temperature_c", "current_ma", "power_mw"], rec
    cfg = _cfg()
    doc = json.loads(reading.to_json(rec, "2026-11-20T00:00:00Z", cfg, None))
    assert doc == reading.to_api(rec, "2026-11-20T00:00:00Z", cfg, None)
    assert doc["temperature"] is None and doc["payload"]["current_ma"] is None
    assert doc["payload"]["voltage_v"] == 4.98 and doc["payload"]["sensor"]["bmp280"]["pressure_hpa"] == 1001.25
    assert doc["payload"]["non_finite"] == ["temperature_c", "current_ma", "power_mw"]
    clean = reading.make(1, 5, fw.T0, (21.5, 1001.25), (4.98, 1.0, 5.0))
    assert "nf" not in clean and "non_finite" not in reading.to_api(clean, "x", cfg, None)["payload"]
