# A reading as queued on flash (compact keys, to save flash and RAM) and as
# the API wants it (POST /api/measurements: deviceId, recordedAt, temperature,
# humidity, payload).
#
# Queued record keys:
#   b  boot id            u  uptime ms in that boot
#   ts unix seconds, absent when the clock was not set at the time
#   at an explicit recordedAt string (send_temperature_to_render's argument)
#   t  temperature_c      p  pressure_hpa       eb BMP280 error text
#   v  voltage_v          i  current_ma         w  power_mw     ei INA219 error
#   src "seed" for readings made by send_temperature_to_render
#   nf names of fields whose value was NaN or infinite (sent as null)
#
# A sensor can hand over NaN or infinity (a failed conversion, a division
# by a zero register). JSON has no such numbers: MicroPython's json writes
# `nan`/`inf`, which the server refuses as a whole batch and which would not
# even read back from the queue. So they never get this far: the field is
# null and payload.non_finite names it.
import json

from clock import iso_utc


def _finite(v):
    return v - v == 0  # False for NaN and +-infinity


def _put(rec, key, value, digits, name):
    if _finite(value):
        rec[key] = round(value, digits)
    else:
        nf = rec.get("nf")
        if nf is None:
            nf = rec["nf"] = []
        nf.append(name)


def make(boot, up_ms, ts, bmp=None, ina=None, bmp_err=None, ina_err=None):
    rec = {"b": boot, "u": up_ms}
    if ts is not None:
        rec["ts"] = ts
    if bmp is not None:
        _put(rec, "t", bmp[0], 2, "temperature_c")
        _put(rec, "p", bmp[1], 2, "pressure_hpa")
    if ina is not None:
        _put(rec, "v", ina[0], 3, "voltage_v")
        _put(rec, "i", ina[1], 2, "current_ma")
        _put(rec, "w", ina[2], 1, "power_mw")
    if bmp_err:
        rec["eb"] = bmp_err
    if ina_err:
        rec["ei"] = ina_err
    return rec


# Records of send_temperature_to_render() carry only a temperature. "seed"
# is the name older firmware wrote to the flash queue for the same record,
# still read so that an update does not strand what is queued.
DIRECT = ("direct", "seed")


def direct(boot, up_ms, temp_c, at=None):
    """The record of send_temperature_to_render(temp_c, at)."""
    rec = {"b": boot, "u": up_ms, "src": "direct"}
    _put(rec, "t", temp_c, 2, "temperature_c")
    if at:
        rec["at"] = at
    return rec


def recorded_at(rec, clock):
    """The reading's RFC 3339 time, or None while it cannot be known yet."""
    at = rec.get("at")
    if at:
        return at
    ts = rec.get("ts")
    if ts is None:
        ts = clock.resolve(rec.get("b"), rec.get("u", 0))
        if ts is None:
            return None
    return iso_utc(ts)


def to_api(rec, at, cfg, device):
    g = rec.get
    if g("src") in DIRECT:
        bmp = {"temperature_c": g("t")}
        ina = None
    else:
        bmp = {"error": g("eb")} if g("eb") else {"temperature_c": g("t"), "pressure_hpa": g("p")}
        ina = {"shunt_ohms": cfg["shunt_ohms"], "max_current_a": cfg["max_current_a"]}
        if g("ei"):
            ina["error"] = g("ei")
    sensor = {"bmp280": bmp}
    if ina is not None:
        sensor["ina219"] = ina
    payload = {
        "voltage_v": g("v"),
        "current_ma": g("i"),
        "power_mw": g("w"),
        "sensor": sensor,
    }
    if g("nf"):
        payload["non_finite"] = g("nf")
    if device is not None:
        payload["device"] = device
    return {
        "deviceId": cfg["device_id"],
        "recordedAt": at,
        "temperature": g("t"),
        "humidity": None,
        "payload": payload,
    }


def write_json(rec, at, cfg, device, out):
    """Write json.dumps(to_api(...)) to the stream out, token by token.
    A batch send is the heap's busiest moment: writing literals and
    json.dump()ing single values into one preallocated buffer allocates
    almost nothing per reading, where dicts and formatted strings would
    allocate about 1 KB each."""
    g = rec.get
    w = out.write
    d = json.dump
    w('{"deviceId":')
    d(cfg["device_id"], out)
    w(',"recordedAt":')
    d(at, out)
    w(',"temperature":')
    d(g("t"), out)
    w(',"humidity":null,"payload":{"voltage_v":')
    d(g("v"), out)
    w(',"current_ma":')
    d(g("i"), out)
    w(',"power_mw":')
    d(g("w"), out)
    if g("nf"):
        w(',"non_finite":')
        d(g("nf"), out)
    if g("src") in DIRECT:
        w(',"sensor":{"bmp280":{"temperature_c":')
        d(g("t"), out)
        w("}}")
    else:
        if g("eb"):
            w(',"sensor":{"bmp280":{"error":')
            d(g("eb"), out)
        else:
            w(',"sensor":{"bmp280":{"temperature_c":')
            d(g("t"), out)
            w(',"pressure_hpa":')
            d(g("p"), out)
        w('},"ina219":{"shunt_ohms":')
        d(cfg["shunt_ohms"], out)
        w(',"max_current_a":')
        d(cfg["max_current_a"], out)
        if g("ei"):
            w(',"error":')
            d(g("ei"), out)
        w("}}")
    if device is not None:
        w(',"device":')
        d(device, out)
    w("}}")


def to_json(rec, at, cfg, device):
    import io
    out = io.StringIO()
    write_json(rec, at, cfg, device, out)
    return out.getvalue()
