# The simulated world the firmware runs in under test: a clock with either
# epoch (ESP32: 2000, unix/WebAssembly: 1970), a true time that NTP reveals,
# Wi-Fi availability, I2C devices, and scheduled events. Installed as the
# `time` module through sys.modules, so the firmware runs unmodified.
import sys
import time as _rt

UNIX_2000 = 946684800
_MASK = (1 << 30) - 1
_HALF = 1 << 29

SIM = None


class Sim:
    def __init__(self, epoch=2000, true_unix=1795000000, rtc_unix=None, up_ms=0, true_ms=None):
        self.epoch_off = UNIX_2000 if epoch == 2000 else 0
        self.true_ms = true_unix * 1000 if true_ms is None else true_ms
        # An unset RTC reads its epoch's zero (ESP32 after power-on: 2000-01-01).
        if rtc_unix is None:
            rtc_ms = self.epoch_off * 1000
        elif rtc_unix == "true":
            rtc_ms = self.true_ms  # the RTC kept running through a soft reset
        else:
            rtc_ms = rtc_unix * 1000
        self.rtc_off_ms = rtc_ms - self.true_ms
        self.up_ms = up_ms
        self.hooks = []
        self.wifi_up = True
        self.ssids = None  # None: any SSID joins; else the set that exists
        self.wifi_join_ms = 2000
        self.wifi_status = None  # what WLAN.status() reports instead (an error code)
        self.ntp_ok = True
        self.ntp_calls = 0
        self.devices = {}
        self.reset_cause = 1
        self.pin_log = []
        self.wdt = None
        self.wdt_max_gap = 0
        self.wdt_last = None

    # -- time ---------------------------------------------------------
    def at(self, up_ms, fn):
        """Run fn() when the device uptime reaches up_ms."""
        self.hooks.append((up_ms, fn))

    def advance(self, ms, run_hooks=True):
        target = self.up_ms + max(0, int(ms))
        # Time spent inside an HTTP request does not run events: nothing on
        # the device runs concurrently with it. They run at the next sleep.
        while run_hooks:
            due = [h for h in self.hooks if h[0] <= target]
            if not due:
                break
            h = min(due, key=lambda x: x[0])
            self.hooks.remove(h)
            if h[0] > self.up_ms:
                self._step(h[0] - self.up_ms)
            h[1]()
        self._step(target - self.up_ms)

    def _step(self, ms):
        self.true_ms += ms
        self.up_ms += ms

    def rtc_ms(self):
        return self.true_ms + self.rtc_off_ms

    def true_unix(self):
        return self.true_ms // 1000

    def ntp_set(self):
        self.rtc_off_ms = 0

    def power_cut(self):
        """What survives a power cut: flash, and nothing of the RTC."""
        self.rtc_off_ms = self.epoch_off * 1000 - self.true_ms
        self.up_ms = 0

    # -- devices ------------------------------------------------------
    def add_bmp(self, addr=0x76, **kw):
        import fakedev
        d = fakedev.FakeBMP280(self, **kw)
        self.devices[addr] = d
        return d

    def add_ina(self, addr=0x40, **kw):
        import fakedev
        d = fakedev.FakeINA219(**kw)
        self.devices[addr] = d
        return d


class FakeTime:
    """Stands in for the `time` module, with the chosen epoch."""

    def __init__(self, sim):
        self._s = sim

    def time(self):
        return self._s.rtc_ms() // 1000 - self._s.epoch_off

    def time_ns(self):
        return (self._s.rtc_ms() - self._s.epoch_off * 1000) * 1000000

    def gmtime(self, secs=None):
        if secs is None:
            secs = self.time()
        return _rt.gmtime(int(secs) + self._s.epoch_off)

    localtime = gmtime

    def mktime(self, t):
        return _rt.mktime(t) - self._s.epoch_off

    def ticks_ms(self):
        return self._s.up_ms & _MASK

    def ticks_us(self):
        return (self._s.up_ms * 1000) & _MASK

    ticks_cpu = ticks_us

    def ticks_add(self, a, b):
        return (a + b) & _MASK

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    def sleep_ms(self, ms):
        self._s.advance(ms)

    def sleep_us(self, us):
        self._s.advance(us // 1000)

    def sleep(self, s):
        self._s.advance(int(s * 1000))


def install(**kw):
    global SIM
    SIM = Sim(**kw)
    t = FakeTime(SIM)
    sys.modules["time"] = t
    sys.modules["utime"] = t
    return SIM
