# What a person sees: serial log lines ("LEVEL reason"), a small capped log
# file on flash, and LED blink patterns.
import os
from micropython import const

from clock import iso_utc

# LED patterns: (blinks, on ms, off ms). Shown after each measurement/send.
SENT = (1, 60, 0)            # one short blink: readings delivered
QUEUING = (2, 60, 200)       # two short blinks: offline, readings queued on flash
SENSOR_ERROR = (3, 60, 200)  # three short blinks: a sensor failed (null fields sent)
SERVER_ERROR = (1, 800, 0)   # one long blink: server refused (token/URL) or dead-lettered
CONFIG_ERROR = (10, 100, 100)  # fast flashing, repeated: config.json missing/invalid

_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
_FILE_LEVEL = const(1)  # INFO and up go to flash


class Log:
    def __init__(self, clock, path="/log.txt", max_bytes=16384, echo=True):
        self.clock = clock
        self.path = path
        self.max_bytes = max_bytes
        self.echo = echo
        self.last_error = None
        self.level = 0  # lines below it are dropped (settings log_level; 0: all)
        self._size = None

    def set_level(self, name):
        self.level = _LEVELS.index(name) if name in _LEVELS else 1

    def _stamp(self):
        c = self.clock
        up = c.uptime_ms() // 1000
        if c.valid():
            return "%s +%ds" % (iso_utc(c.unix()), up)
        return "+%ds" % up

    def _write(self, level, msg):
        if level < self.level:
            return
        if "\n" in msg or "\r" in msg:
            # One line per event: mbedtls's error texts carry newlines.
            msg = " ".join(msg.split())
        line = "%s %s %s" % (self._stamp(), _LEVELS[level], msg)
        if self.echo:
            print(line)
        if level == 3:
            self.last_error = msg  # reported in payload.device.last_error
        if level < _FILE_LEVEL or not self.path:
            return
        try:
            if self._size is None:
                try:
                    self._size = os.stat(self.path)[6]
                except OSError:
                    self._size = 0
            if self._size + len(line) + 1 > self.max_bytes:
                # Keep one previous file: the log never grows past 2 x max.
                try:
                    os.remove(self.path + ".1")
                except OSError:
                    pass
                os.rename(self.path, self.path + ".1")
                self._size = 0
            with open(self.path, "a") as f:
                f.write(line)
                f.write("\n")
            self._size += len(line) + 1
        except OSError as e:
            if self.echo:
                print("log file unavailable:", e)
            self._size = None

    def debug(self, msg):
        self._write(0, msg)

    def info(self, msg):
        self._write(1, msg)

    def warn(self, msg):
        self._write(2, msg)

    def error(self, msg):
        self._write(3, msg)


class Led:
    def __init__(self, pin, clock, active_low=False):
        self.clock = clock
        self.pin = None
        self.active_low = active_low
        self.enabled = True  # settings "led": false keeps it dark
        if pin is not None:
            try:
                import machine
                self.pin = machine.Pin(pin, machine.Pin.OUT)
                self._set(False)
            except Exception:
                self.pin = None

    def _set(self, on):
        if self.pin is not None:
            self.pin.value(1 if on != self.active_low else 0)

    def show(self, pattern):
        n, on_ms, off_ms = pattern
        for k in range(n):
            # Dark or not, the pattern takes its time: the loop's timing
            # does not depend on the LED.
            self._set(self.enabled)
            self.clock.sleep_ms(on_ms)
            self._set(False)
            if k < n - 1:
                self.clock.sleep_ms(off_ms)
