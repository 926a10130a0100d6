# The application: every interval read the sensors, write the CSV files and
# queue the reading on flash; in between, keep Wi-Fi and the clock up and
# deliver the queue. Nothing that talks to the network may delay a
# measurement: each step is bounded by a timeout, and sending stops when the
# next measurement is closer than one request could take.
import gc

import machine
from micropython import const

import ota_boot
import reading
import retry
import status
from clock import iso_utc
from retry import SENT, RETRY, DEAD, HELD
from sensors import Sensors
from uplink import Uplink

FIRMWARE = "thermowatt-esp32"
VERSION = "1.0.0"  # as flashed; after an update ota_boot's state names the version
TEMP_HEADER = "recorded_at,boot,uptime_s,temperature_c,pressure_hpa"
ELECT_HEADER = "recorded_at,boot,uptime_s,voltage_v,current_ma,power_mw"
_ERROR_PAUSE_MS = const(5000)

_current = None  # this board's App, once built (see instance())

class App:
    def __init__(self, cfg, clock, log, led, root="/", reset_cause=None):
        # Imported here, once start.py has dropped config.py, while uplink
        # (the largest) loads at the top, into a heap still in one piece:
        # the order that test/heapcap.test.mjs measured smallest (a full
        # batch in 72 KB as .mpy, 80 KB as .py; 76 and 88 with all at the
        # top).
        from csvlog import CsvLog
        from deadletter import DeadLetter
        from flashqueue import FlashQueue
        from wifi import Wifi
        self.cfg = cfg
        self.clock = clock
        self.log = log
        self.led = led
        self.queue = FlashQueue(root + "q", cfg["queue_cap"], log=log)
        clock.boot = self.queue.boot
        clock.note_valid_clock()
        self.dead = DeadLetter(root + "deadletter.jsonl", cfg["deadletter_max_bytes"], log)
        self.temp_csv = CsvLog(root + "temp.csv", TEMP_HEADER, cfg["csv_max_bytes"], cfg["csv_keep"])
        self.elect_csv = CsvLog(root + "elect.csv", ELECT_HEADER, cfg["csv_max_bytes"], cfg["csv_keep"])
        self.uplink = Uplink(cfg, clock, log)
        self.wifi = Wifi(cfg, log)
        self.reset_cause = reset_cause
        self.sensors = Sensors(cfg, log)
        self.wdt = None
        self.cycles = 0
        self.root = root
        self.interval_ms = cfg["interval_s"] * 1000
        self.budget_ms = self._budget()
        # Fleet: what runs, which settings apply, how the last update went.
        st = ota_boot.state(root)
        self.version = st["current"] or VERSION
        self.update = st["update"]
        self.trial = bool(st["trial"])
        self.settings_rev = 0
        # config.json's own values of the settings keys: what a key the
        # server stops setting goes back to.
        self.local = {}
        # What fleet.Fleet keeps between its steps (failures in a row, the
        # uptime of its next try, a refused settings revision, the settings
        # error to report): the module is loaded only for a step and
        # released after, so that its ~7 KB are free for the sends.
        self.fleet_memo = (0, 0, None, None)
        self.apply_settings(cfg)

    def _budget(self):
        # One request may block for a connect, a write and a read.
        return min(int(3 * self.cfg["http_timeout_s"] * 1000) + 5000, self.interval_ms // 2)

    def apply_settings(self, new):
        """Put the values of settings keys in new into effect (config.json's
        at start, the server's later)."""
        cfg = self.cfg
        for k in ("interval_s", "batch_size", "http_timeout_s", "connect_timeout_s", "backoff_base_s",
                  "backoff_cap_s", "led", "log_level", "update_deadline_cycles"):
            if k in new:
                cfg[k] = new[k]
        self.interval_ms = cfg["interval_s"] * 1000
        self.budget_ms = self._budget()
        if self.uplink.batch.ceiling != cfg["batch_size"]:
            self.uplink.batch = retry.BatchSize(cfg["batch_size"])
        self.uplink.backoff.base_s = cfg["backoff_base_s"]
        self.uplink.backoff.cap_s = cfg["backoff_cap_s"]
        self.wifi.timeout_ms = int(cfg["connect_timeout_s"] * 1000)
        self.led.enabled = cfg["led"]
        self.log.set_level(cfg["log_level"])

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()

    def health(self):
        return {
            "firmware": self.version,
            "settings_rev": self.settings_rev,
            "update": self.update,
            "uptime_s": self.clock.uptime_ms() // 1000,
            "free_heap": gc.mem_free(),
            "rssi_dbm": self.wifi.rssi(),
            "queue_depth": self.queue.depth,
            "dropped": self.queue.dropped,
            "dead_lettered": self.dead.count,
            "last_error": self.uplink.last_error or self.log.last_error,
            "reset_cause": self.reset_cause,
            "boot": self.queue.boot,
            "settings_error": self.fleet_memo[3],
            "ca": self.uplink.http.ca_fingerprints(),
        }

    # -- measuring -------------------------------------------------------
    def measure(self):
        clock = self.clock
        bmp, eb = self.sensors.read_bmp()
        ina, ei = self.sensors.read_ina()
        up = clock.uptime_ms()
        ts = clock.unix() if clock.valid() else None
        at = iso_utc(ts) if ts is not None else ""
        b = self.queue.boot
        try:
            self.temp_csv.append((at, b, up // 1000) + (bmp if bmp else (None, None)))
            self.elect_csv.append((at, b, up // 1000) + (ina if ina else (None, None, None)))
        except OSError as e:
            # The CSV files are a local copy; a full or broken file system
            # must not cost the reading its place in the queue.
            self.log.error("CSV write failed: %s" % e)
        if bmp is None and ina is None:
            self.log.error("no sensor answered: nothing to queue this interval")
            return False
        rec = reading.make(b, up, ts, bmp, ina, eb, ei)
        self.queue.append(rec)
        self.log.info("measured %s: %s C %s hPa %s V %s mA %s mW (queue %d)" % (
            at or "(clock not set)", rec.get("t"), rec.get("p"), rec.get("v"), rec.get("i"),
            rec.get("w"), self.queue.depth))
        return eb is None and ei is None

    # -- sending ---------------------------------------------------------
    def _sent(self, outcome):
        """What a send's outcome shows on the LED and says about the link
        (the loop's batches and send_now alike)."""
        if outcome == SENT:
            self.led.show(status.SENT)
        elif outcome in (DEAD, HELD):
            self.led.show(status.SERVER_ERROR)
        elif outcome == RETRY and self.uplink.link_suspect():
            self.wifi.link_failed(self.clock.uptime_ms())

    def send_now(self, temp_c, recorded_at=None):
        """Send one temperature at once (render_api's
        send_temperature_to_render): True when delivered. A reading not
        delivered now waits on the queue (so does one taken before the
        clock is set: the queue dates it once NTP ran); one the server
        refuses for good goes to the dead letters."""
        clock, log = self.clock, self.log
        if recorded_at is None and clock.valid():
            recorded_at = iso_utc(clock.unix())
        rec = reading.direct(clock.boot, clock.uptime_ms(), temp_c, recorded_at)
        if recorded_at is None:
            log.warn("clock not set yet: temperature %s queued until it is" % temp_c)
            self.queue.append(rec)
            return False
        outcome = self.uplink.send_now(rec, recorded_at, self.dead, self.health(), self.feed)
        self._sent(outcome)
        if outcome == SENT:
            log.info("temperature %s at %s sent" % (temp_c, recorded_at))
            return True
        if outcome == RETRY:
            self.queue.append(rec)
            log.warn("temperature %s at %s queued for later delivery" % (temp_c, recorded_at))
        return False

    # -- the loop --------------------------------------------------------
    def run(self, max_cycles=None):
        cfg, clock, log = self.cfg, self.clock, self.log
        self.wdt = machine.WDT(timeout=int(cfg["wdt_timeout_s"] * 1000))
        for m in ota_boot.messages:  # what the boot code did before the log existed
            level, _, text = m.partition(" ")
            (log.error if level == "ERROR" else log.info)(text)
        del ota_boot.messages[:]
        log.info("%s %s started: boot %d, reset cause %s, %d readings queued, interval %ds, settings rev %d" % (
            FIRMWARE, self.version, self.queue.boot, self.reset_cause, self.queue.depth, cfg["interval_s"],
            self.settings_rev))
        self._next_measure = clock.uptime_ms()
        global _current
        _current = self
        # Unexpected errors count "in a row" until a whole measurement
        # interval has passed without one: a loop pass that merely slept
        # proves nothing, and a send that fails with MemoryError on every
        # try must end in a reset (which also defragments the heap).
        errors = 0
        last_error_ms = 0
        while True:
            try:
                if not self._step(max_cycles):
                    break
                if errors and clock.uptime_ms() - last_error_ms >= self.interval_ms:
                    errors = 0
            except Exception as e:  # a bug or MemoryError must not end the loop
                import sys
                errors += 1
                last_error_ms = clock.uptime_ms()
                log.error("unexpected %s: %s (%d in a row)" % (type(e).__name__, e, errors))
                sys.print_exception(e)
                if errors >= retry.ERRORS_BEFORE_RESET:
                    log.error("too many unexpected errors: resetting the board")
                    machine.reset()
                self.led.show(status.SERVER_ERROR)
                gc.collect()
                clock.sleep_ms(_ERROR_PAUSE_MS)
        log.info("stopped after %d cycles, %d readings queued" % (self.cycles, self.queue.depth))
        return self

    def _step(self, max_cycles):
        """One pass of the loop; False when max_cycles are done."""
        cfg, clock = self.cfg, self.clock
        interval_ms, budget_ms = self.interval_ms, self.budget_ms
        next_measure = self._next_measure
        self.feed()
        up = clock.uptime_ms()
        if up >= next_measure:
            if max_cycles is not None and self.cycles >= max_cycles:
                return False
            if self.trial:
                self._trial_interval()
            ok = self.measure()
            self.cycles += 1
            next_measure += interval_ms
            if next_measure <= up:  # we fell behind: skip, never burst
                next_measure = up + interval_ms
            self._next_measure = next_measure
            if not ok:
                self.led.show(status.SENSOR_ERROR)
            elif not self.wifi.connected() or self.uplink.failures:
                self.led.show(status.QUEUING)
            gc.collect()
            return True
        online = self.wifi.tick(up)
        if online:
            if clock.sync(up, cfg["ntp_host"], cfg["ntp_interval_s"], self.log):
                self.uplink.clock_set()
            up = clock.uptime_ms()
        if (online and self.queue.depth and self.uplink.due(up)
                and next_measure - up >= budget_ms):
            outcome = self.uplink.send_next(self.queue, self.dead, self.health())
            gc.collect()
            if outcome == SENT and self.trial:
                self.trial = False
                v = ota_boot.commit(self.root)
                self.log.info("firmware %s delivered a batch: it stays" % v)
            self._sent(outcome)
            if outcome in (SENT, DEAD) or (outcome == RETRY and self.uplink.due(clock.uptime_ms())):
                return True  # more may be waiting: go again at once
        if (online and not self.queue.depth and next_measure - up >= budget_ms
                and self.fleet_wanted(up)):
            # Readings first: a change the server asks for waits for an
            # empty queue, and takes one request per pass.
            self._fleet_step(next_measure - budget_ms // 2)
            gc.collect()
            return True
        # Sleep until the next thing to do, in slices the watchdog allows.
        up = clock.uptime_ms()
        if up >= next_measure:
            return True  # a send ran into the measurement's slot: measure now
        wake = min(next_measure, self.wifi.next_event_ms(up))
        if online and self.queue.depth:
            # Sending waits for its backoff, and for the next
            # measurement when that is closer than a request may take.
            send_at = max(self.uplink.next_try_ms, up)
            if next_measure - send_at < budget_ms:
                send_at = next_measure
            wake = min(wake, send_at)
        if online and clock.next_ntp_ms > up:
            wake = min(wake, clock.next_ntp_ms)
        # Wake exactly on time (a measurement must start on its slot), but
        # never spin on an event that is already due: that gets a short nap.
        nap = wake - up if wake > up else 20
        clock.sleep_ms(min(nap, cfg["wdt_timeout_s"] * 500))
        return True


    # -- fleet: settings and firmware the server asks for ------------------
    def fleet_wanted(self, up):
        """True when the server's last answer names a settings revision or a
        firmware version this device should take, and the fleet's backoff
        allows a step now. Decided here, without loading fleet."""
        d = self.uplink.desired
        if not d or up < self.fleet_memo[1]:
            return False
        rev = d.get("settingsRev")
        if isinstance(rev, int) and rev > 0 and rev != self.settings_rev and rev != self.fleet_memo[2]:
            return True
        v = d.get("firmware")
        if not isinstance(v, str) or v == self.version or self.trial:
            return False
        # A release refused or rolled back is not tried again until the
        # server names another one; one refused for want of memory is, after
        # the fleet's backoff.
        u = self.update
        return not (u.get("version") == v and u.get("state") in ("refused", "rolled_back")
                    and not (u.get("reason") or "").startswith("memory"))

    def _fleet_step(self, until_ms):
        # fleet.step does the work; the module (and all it allocated) is
        # released before the loop goes on.
        import sys
        import fleet
        try:
            reboot = fleet.REBOOT
            r = fleet.step(self, until_ms)
        finally:
            del fleet
            sys.modules.pop("fleet", None)
        if r == reboot:
            machine.reset()  # ota_boot switches at the next start
        elif r is not None:
            self.update = r

    def _trial_interval(self):
        # The new firmware has update_deadline_cycles intervals to deliver.
        why = ota_boot.trial_cycle(self.root)
        if why:
            self.log.error("firmware %s: %s: rolling back" % (self.version, why))
            ota_boot.rollback(why, self.root)
            machine.reset()


def _start(how, *args):
    # start.py (and config.py, which it loads) is needed only to start:
    # dropped as soon as the App exists, so that its bytecode is free heap.
    import sys
    import start
    try:
        return getattr(start, how)(*args)
    finally:
        del start
        sys.modules.pop("start", None)


def build(config_path="/config.json", root="/"):
    """The parts without the loop (send_temperature_to_render at the REPL,
    tests). Raises ValueError when config.json is unusable."""
    global _current
    _current = _start("build", config_path, root)
    return _current


def instance(config_path="/config.json", root="/"):
    """This board's App: the one whose loop runs or that build() made, else
    one built from config.json now (send_temperature_to_render at the
    REPL). Raises ValueError when config.json is unusable."""
    if _current is None:
        build(config_path, root)
    return _current


def run(max_cycles=None, config_path="/config.json", root="/"):
    """Run the firmware. On a device this never returns; a test passes
    max_cycles (measurement intervals) and gets the App back (None when
    config.json stayed unusable that long)."""
    a, waited = _start("ready", max_cycles, config_path, root)
    if a is None:
        return None
    return a.run(None if max_cycles is None else max_cycles - waited)
