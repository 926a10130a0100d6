# Start-up: config.json (with the settings the server set last), the log,
# the LED and the App; while config.json is unusable, the LED flashes and the
# reason repeats until the file is fixed. app.run() and app.instance() load
# this module only to start and drop it afterwards, so that its bytecode
# (and config.py's, dropped sooner) is free heap for the batch sends.
import gc

import machine
from micropython import const

import ota_boot
import status
from clock import Clock
from fsutil import makedirs

_CONFIG_RECHECK_MS = const(30000)


def reset_cause():
    names = {}
    for name in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET", "BROWNOUT_RESET"):
        v = getattr(machine, name, None)
        if v is not None:
            names[v] = name[:-6].lower()
    try:
        c = machine.reset_cause()
    except (AttributeError, OSError):
        return None
    return names.get(c, str(c))


def load_config(path, root="/"):
    """(cfg, problems, settings rev, note, local): config.json, with the
    settings the server set last over it when they still pass the checks
    (note says why they were left out otherwise); local holds config.json's
    own values of the settings keys."""
    # config.py is ~6 KB of bytecode needed only here: drop the module at
    # once, before the App's modules load.
    import sys
    import config
    try:
        cfg, problems = config.load(path)
        rev, note = 0, None
        local = {}
        for k in config.SETTINGS_KEYS:
            local[k] = cfg.get(k)
        if not problems:
            kept = ota_boot.read_json(root + "settings.json") or {}
            r, settings = kept.get("rev"), kept.get("settings")
            if isinstance(r, int) and isinstance(settings, dict):
                merged, bad = config.check_settings(cfg, settings)
                if bad:
                    note = "stored settings rev %d ignored: %s" % (r, "; ".join(bad))
                else:
                    cfg, rev = merged, r
        return cfg, problems, rev, note, local
    finally:
        del config
        sys.modules.pop("config", None)


def _app(cfg, clock, log, led, root, rev, local):
    from app import App
    a = App(cfg, clock, log, led, root, reset_cause())
    a.settings_rev = rev
    a.local = local
    return a


def build(config_path="/config.json", root="/"):
    """The parts without the loop (app.build). Raises ValueError when
    config.json is unusable."""
    clock = Clock(root + "q/bootclock")
    cfg, problems, rev, note, local = load_config(config_path, root)
    log = status.Log(clock, root + "log.txt", cfg["log_max_bytes"])
    if note:
        log.warn(note)
    if problems:
        raise ValueError("; ".join(problems))
    led = status.Led(cfg["led_pin"], clock, cfg["led_active_low"])
    return _app(cfg, clock, log, led, root, rev, local)


def ready(max_cycles, config_path="/config.json", root="/"):
    """(App, intervals spent waiting for a usable config.json), or (None, n)
    when a test's max_cycles ran out first."""
    gc.collect()
    makedirs(root + "q")
    clock = Clock(root + "q/bootclock")
    cfg, problems, rev, note, local = load_config(config_path, root)
    log = status.Log(clock, root + "log.txt", cfg["log_max_bytes"])
    if note:
        log.warn(note)
    led_pin = cfg.get("led_pin")
    led = status.Led(led_pin if isinstance(led_pin, int) and not isinstance(led_pin, bool) else None,
                     clock, bool(cfg.get("led_active_low")))
    cycles = 0
    while problems:
        # No watchdog and no reset here: a reset loop would hide the
        # message. Flash the LED, repeat the reason, look again.
        for p in problems:
            log.error("config: " + p)
        if max_cycles is not None and cycles >= max_cycles:
            return None, cycles
        cycles += 1
        # Flash until it is time to look again, whatever the pattern's length.
        since = clock.uptime_ms()
        while clock.uptime_ms() - since < _CONFIG_RECHECK_MS:
            led.show(status.CONFIG_ERROR)
            clock.sleep_ms(1000)
        cfg, problems, rev, note, local = load_config(config_path, root)
        if not problems:
            log.info("config.json is valid now: starting")
    gc.collect()
    return _app(cfg, clock, log, led, root, rev, local), cycles
