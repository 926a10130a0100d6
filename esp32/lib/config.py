# config.json on the device's flash holds everything site-specific, so the
# same files can be copied to every board. load() never raises: it returns
# (config, problems) and the caller reports problems on the log and the LED.
import json

DEFAULTS = {
    "wifi": [],  # [{"ssid": "...", "password": "..."}], tried in order
    "base_url": "",
    "device_id": "",
    "api_key": "",
    "interval_s": 300,
    "i2c": {"id": 0, "scl": 22, "sda": 21, "freq": 100000},
    "bmp280_addr": 0x76,
    "ina219_addr": 0x40,
    "shunt_ohms": 0.1,
    "max_current_a": 3.2,
    "led_pin": 2,
    "led_active_low": False,
    "batch_size": 20,
    "queue_cap": 2000,
    "http_timeout_s": 30,
    "connect_timeout_s": 20,
    "backoff_base_s": 5,
    "backoff_cap_s": 600,
    "ntp_host": "pool.ntp.org",
    "ntp_interval_s": 21600,
    "wdt_timeout_s": 120,
    "csv_max_bytes": 65536,
    "csv_keep": 2,
    "log_max_bytes": 16384,
    "deadletter_max_bytes": 32768,
    "allow_http": False,
    "ca_cert": None,  # CA file on flash ("/ca.der"): verify the server; None: unverified
    "led": True,  # False: the status LED stays dark
    "log_level": "INFO",  # lines below it are neither printed nor kept
    "update_deadline_cycles": 3,  # a new firmware must deliver a batch within this many intervals
    "ota_public_key": None,  # base64 Ed25519 key: firmware releases must be signed with it
}

# What the server may change (GET /api/device/settings); never the Wi-Fi,
# the token, the device id or the URL, which could cut the board off.
SETTINGS_KEYS = ("interval_s", "batch_size", "http_timeout_s", "connect_timeout_s", "backoff_base_s",
                 "backoff_cap_s", "led", "log_level", "update_deadline_cycles")
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")


def _num(cfg, key, lo, hi, problems, integer=True):
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        problems.append("%s must be a%s number, got %r" % (key, "n integer" if integer else "", v))
    elif not lo <= v <= hi:
        problems.append("%s must be between %s and %s, got %s" % (key, lo, hi, v))


def _addr(cfg, key, problems):
    v = cfg.get(key)
    if isinstance(v, str):
        try:
            v = int(v, 16) if v.lower().startswith("0x") else int(v)
        except ValueError:
            pass
    if isinstance(v, int) and not isinstance(v, bool) and 0x03 <= v <= 0x77:
        cfg[key] = v
    else:
        problems.append("%s must be an I2C address like 118 or \"0x76\", got %r" % (key, cfg.get(key)))


def validate(cfg):
    p = []
    nets = cfg.get("wifi")
    if isinstance(nets, dict):
        nets = cfg["wifi"] = [nets]
    if not isinstance(nets, list) or not nets:
        p.append("wifi must list at least one {\"ssid\", \"password\"}")
    else:
        for i, n in enumerate(nets):
            if not isinstance(n, dict) or not isinstance(n.get("ssid"), str) or not n.get("ssid"):
                p.append("wifi[%d] needs a non-empty \"ssid\"" % i)
            elif not isinstance(n.get("password", ""), str):
                p.append("wifi[%d].password must be a string" % i)
    url = cfg.get("base_url")
    if not isinstance(url, str) or not url:
        p.append("base_url is required, e.g. \"https://thermowatt.onrender.com\"")
    elif url.startswith("http://") and not cfg.get("allow_http"):
        # Render answers http with a redirect, and a redirected POST loses
        # its body: insist on https unless a test server is meant.
        p.append("base_url must start with https:// (set allow_http for a local test server)")
    elif not (url.startswith("https://") or url.startswith("http://")):
        p.append("base_url must start with https://, got %r" % url)
    else:
        cfg["base_url"] = url.rstrip("/")
    for key in ("device_id", "api_key"):
        if not isinstance(cfg.get(key), str) or not cfg.get(key):
            p.append("%s is required (a non-empty string)" % key)
    ca = cfg.get("ca_cert")
    if ca is not None:
        if not isinstance(ca, str) or not ca:
            p.append("ca_cert must be the path of a CA certificate file, e.g. \"/ca.der\", or null, got %r" % (ca,))
        elif isinstance(url, str) and url.startswith("http://"):
            p.append("ca_cert is set but base_url is http://: TLS needs https://")
        else:
            import tlshttp
            try:
                tlshttp.read_ca(ca)
            except OSError:
                p.append("ca_cert %s cannot be read: copy it with `mpremote cp ca.der :%s`" % (ca, ca.lstrip("/")))
            except ValueError as e:
                p.append("ca_cert: %s" % e)
    i2c = cfg.get("i2c")
    if not isinstance(i2c, dict):
        p.append("i2c must be an object {\"id\", \"scl\", \"sda\", \"freq\"}")
    else:
        for k in ("id", "scl", "sda", "freq"):
            v = i2c.get(k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                p.append("i2c.%s must be a non-negative integer, got %r" % (k, v))
    _addr(cfg, "bmp280_addr", p)
    _addr(cfg, "ina219_addr", p)
    _num(cfg, "interval_s", 10, 86400, p)
    _num(cfg, "shunt_ohms", 0.0001, 100, p, False)
    _num(cfg, "max_current_a", 0.001, 100, p, False)
    led = cfg.get("led_pin")
    if led is not None and (isinstance(led, bool) or not isinstance(led, int)):
        p.append("led_pin must be a GPIO number or null, got %r" % (led,))
    _num(cfg, "batch_size", 1, 500, p)
    _num(cfg, "queue_cap", 16, 100000, p)
    _num(cfg, "http_timeout_s", 1, 120, p, False)
    _num(cfg, "connect_timeout_s", 1, 120, p, False)
    _num(cfg, "backoff_base_s", 0.1, 3600, p, False)
    _num(cfg, "backoff_cap_s", 1, 86400, p, False)
    _num(cfg, "ntp_interval_s", 60, 7 * 86400, p)
    _num(cfg, "wdt_timeout_s", 5, 3600, p, False)
    _num(cfg, "csv_max_bytes", 1024, 4 * 1024 * 1024, p)
    _num(cfg, "csv_keep", 0, 20, p)
    _num(cfg, "log_max_bytes", 1024, 1024 * 1024, p)
    _num(cfg, "deadletter_max_bytes", 1024, 1024 * 1024, p)
    if not isinstance(cfg.get("led"), bool):
        p.append("led must be true or false, got %r" % (cfg.get("led"),))
    if cfg.get("log_level") not in LOG_LEVELS:
        p.append("log_level must be one of %s, got %r" % (", ".join(LOG_LEVELS), cfg.get("log_level")))
    _num(cfg, "update_deadline_cycles", 1, 100, p)
    key = cfg.get("ota_public_key")
    if key is not None:
        import binascii
        try:
            raw = binascii.a2b_base64(key.encode()) if isinstance(key, str) else b""
        except ValueError:
            raw = b""
        if len(raw) != 32:
            p.append("ota_public_key must be a base64 Ed25519 public key (32 bytes), or null")
    if not p:
        # One HTTP request can block for a connect, a write and a read, each
        # up to http_timeout_s: the watchdog must outlast all three.
        need = 3 * cfg["http_timeout_s"] + 10
        if cfg["wdt_timeout_s"] < need:
            p.append("wdt_timeout_s must be at least 3 * http_timeout_s + 10 = %s" % need)
        if cfg["queue_cap"] < cfg["batch_size"]:
            p.append("queue_cap must be at least batch_size")
    return p


def check_settings(cfg, settings):
    """(merged, problems): cfg with the server's settings over it, checked
    by the same rules as config.json (one set of ranges). settings may only
    hold SETTINGS_KEYS; cfg itself is left alone."""
    if not isinstance(settings, dict):
        return None, ["settings must be a JSON object"]
    p = ["%s cannot be set remotely" % k for k in settings if k not in SETTINGS_KEYS]
    if p:
        return None, p
    merged = {}
    for k in cfg:
        merged[k] = cfg[k]
    for k in settings:
        merged[k] = settings[k]
    p = validate(merged)
    return (None if p else merged), p


def load(path="config.json"):
    cfg = {}
    for k in DEFAULTS:
        v = DEFAULTS[k]
        cfg[k] = dict(v) if isinstance(v, dict) else v
    try:
        with open(path) as f:
            user = json.load(f)
    except OSError:
        return cfg, ["%s not found: copy config.example.json to the board as %s and edit it" % (path, path)]
    except ValueError as e:
        return cfg, ["%s is not valid JSON (%s)" % (path, e)]
    if not isinstance(user, dict):
        return cfg, ["%s must hold a JSON object" % path]
    for k in user:
        if k not in DEFAULTS and not k.startswith("_"):
            return cfg, ["%s: unknown setting %r (a typo?)" % (path, k)]
        if k == "i2c" and isinstance(user[k], dict):
            cfg["i2c"].update(user[k])
        else:
            cfg[k] = user[k]
    return cfg, validate(cfg)
