# Fake of the `machine` module for host tests (ESP32 semantics).
import sim as _sim

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset_cause():
    return _sim.SIM.reset_cause


def reset():
    raise SystemExit("machine.reset()")


class Pin:
    IN = 1
    OUT = 3

    def __init__(self, id, mode=-1, *a, **kw):
        self.id = id
        self._v = 0

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        _sim.SIM.pin_log.append((self.id, self._v, _sim.SIM.up_ms))

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def __call__(self, v=None):
        return self.value(v)


class I2C:
    def __init__(self, id, scl=None, sda=None, freq=400000):
        self.id = id

    def _dev(self, addr):
        d = _sim.SIM.devices.get(addr)
        if d is None:
            raise OSError(19)  # ENODEV: nothing acknowledged the address
        return d

    def scan(self):
        return sorted(a for a in _sim.SIM.devices if not _sim.SIM.devices[a].fail)

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        return self._dev(addr).read(reg, n)

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        b = self._dev(addr).read(reg, len(buf))
        buf[:] = b

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        self._dev(addr).write(reg, buf)


class WDT:
    def __init__(self, id=0, timeout=5000):
        s = _sim.SIM
        if s.wdt is not None:
            raise RuntimeError("WDT already running")  # cannot be restarted
        self.timeout = timeout
        self.feeds = 0
        s.wdt = self
        s.wdt_last = s.up_ms

    def feed(self):
        s = _sim.SIM
        self.feeds += 1
        s.wdt_max_gap = max(s.wdt_max_gap, s.up_ms - s.wdt_last)
        s.wdt_last = s.up_ms


class RTC:
    def datetime(self, dt=None):
        import time
        s = _sim.SIM
        if dt is None:
            t = time.gmtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        secs = time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0)) + s.epoch_off
        s.rtc_off_ms = secs * 1000 - s.true_ms
