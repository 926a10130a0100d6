# config.json: site settings on the device, checked with messages that say
# what to fix.
import json

import fw


def _load(**over):
    fw.setup(config=False)
    fw.write_config(**over)
    import config
    return config.load("/config.json")


def test_example_config_is_valid_apart_from_placeholders():
    fw.setup(config=False)
    import config
    # The committed file (the harness puts it beside the tests).
    cfg, problems = config.load("/tests/config.example.json")
    assert problems == [], problems
    assert cfg["bmp280_addr"] == 0x76 and cfg["ina219_addr"] == 0x40
    assert cfg["interval_s"] == 300


def test_defaults_fill_what_config_json_leaves_out():
    cfg, problems = _load()
    assert not problems
    assert cfg["i2c"] == {"id": 0, "scl": 22, "sda": 21, "freq": 100000}
    assert cfg["led_pin"] == 2 and cfg["ntp_host"] == "pool.ntp.org"


def test_problems_are_named_with_what_to_do():
    cfg, p = _load(wifi=[], base_url="ftp://x", interval_s=1, shunt_ohms="0.1", wdt_timeout_s=10)
    text = "\n".join(p)
    assert "wifi must list at least one" in text
    assert "base_url must start with https://" in text
    assert "interval_s must be between 10 and 86400, got 1" in text
    assert "shunt_ohms must be a number" in text


def test_watchdog_must_outlast_the_longest_request():
    cfg, p = _load(http_timeout_s=30, wdt_timeout_s=60)
    assert p == ["wdt_timeout_s must be at least 3 * http_timeout_s + 10 = 100"], p


def test_typos_missing_file_and_bad_json_are_reported_not_raised():
    cfg, p = _load(intervall_s=60)
    assert "unknown setting 'intervall_s'" in p[0], p
    import config
    assert "not found" in config.load("/nope.json")[1][0]
    with open("/bad.json", "w") as f:
        f.write("{wifi: ")
    assert "not valid JSON" in config.load("/bad.json")[1][0]


def test_single_wifi_object_and_hex_addresses_are_accepted():
    cfg, p = _load(wifi={"ssid": "solo", "password": "x"}, bmp280_addr="0x77", ina219_addr=65)
    assert not p, p
    assert cfg["wifi"] == [{"ssid": "solo", "password": "x"}]
    assert cfg["bmp280_addr"] == 0x77 and cfg["ina219_addr"] == 0x41
