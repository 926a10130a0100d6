# Wall clock and uptime, independent of the port's epoch.
#
# The ESP32 port counts time.time() from 2000-01-01, the unix and WebAssembly
# ports from 1970-01-01. Everything this firmware sends or writes is unix
# seconds (1970) converted here, so the same code is right on every port.
#
# Readings taken before the clock is set carry (boot id, uptime ms). When NTP
# first sets the clock in a boot, the wall time of that boot's uptime zero is
# persisted, so those readings get their real time, even after a reboot.
import time

from fsutil import replace
from micropython import const

_UNIX_2000 = const(946684800)
# A clock before 2025-01-01 has not been set (ESP32 RTC starts at 2000-01-01).
MIN_VALID_UNIX = const(1735689600)
_TICKS_PERIOD = const(1 << 30)
_NTP_RETRY_MS = const(60000)

EPOCH_OFFSET = _UNIX_2000 if time.gmtime(0)[0] == 2000 else 0


def days_to_civil(z):
    # Howard Hinnant's days_from_civil inverse: exact for any date, uses
    # only integers, so it does not depend on the port's gmtime or epoch.
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def iso_utc(unix):
    """unix seconds -> '2026-11-27T03:00:00Z' (RFC 3339, UTC)."""
    unix = int(unix)
    days, secs = divmod(unix, 86400)
    y, m, d = days_to_civil(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (
        y, m, d, secs // 3600, (secs // 60) % 60, secs % 60)


def parse_iso(s):
    """RFC 3339 ('2026-11-27T12:00:00+09:00', '...Z') -> unix seconds.
    Raises ValueError when the text is not of that form."""
    try:
        y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        hh, mi, ss = int(s[11:13]), int(s[14:16]), int(s[17:19])
        if s[4] != "-" or s[10] not in "Tt ":
            raise ValueError
        rest = s[19:]
        if rest and rest[0] == ".":
            i = 1
            while i < len(rest) and rest[i].isdigit():
                i += 1
            rest = rest[i:]
        if rest in ("Z", "z"):
            off = 0
        elif len(rest) == 6 and rest[0] in "+-":
            off = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            if rest[0] == "-":
                off = -off
        else:
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError("not an RFC 3339 timestamp: %r" % (s,))
    return days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - off


class Clock:
    def __init__(self, boot_file="/q/bootclock"):
        self._boot_file = boot_file
        self._last = time.ticks_ms()
        self._up = 0
        self.boot = 0  # set by app from the queue's boot counter
        self.synced = False
        self._t0 = {}  # boot id -> unix ms at that boot's uptime 0
        self.next_ntp_ms = 0  # uptime of the next NTP request
        self._load()

    def uptime_ms(self):
        # Accumulate ticks so uptime never wraps (ticks_ms wraps every
        # 2**30 ms, ~12 days); called at least every loop pass.
        t = time.ticks_ms()
        self._up += time.ticks_diff(t, self._last)
        self._last = t
        return self._up

    def unix(self):
        return int(time.time()) + EPOCH_OFFSET

    def unix_ms(self):
        # time_ns() carries the RTC's sub-second part (ESP32 has it); the
        # uptime-to-wall mapping of undated readings is only as good as this.
        try:
            return time.time_ns() // 1000000 + EPOCH_OFFSET * 1000
        except AttributeError:
            return int(time.time() * 1000) + EPOCH_OFFSET * 1000

    def valid(self):
        return self.synced or self.unix() >= MIN_VALID_UNIX

    def sleep_ms(self, ms):
        if ms > 0:
            time.sleep_ms(int(ms))

    def mark_synced(self):
        """Called after NTP set the RTC: remember this boot's uptime zero."""
        self.synced = True
        if self.boot not in self._t0:
            self._t0[self.boot] = self.unix_ms() - self.uptime_ms()
            self._save()

    def sync(self, up, host, every_s, log):
        """The NTP step of the loop: ask host when it is due (every every_s
        once it answered, a minute after a failure). True when the clock
        was set now."""
        if up < self.next_ntp_ms:
            return False
        try:
            import ntptime
            ntptime.host = host
            ntptime.timeout = 5
            ntptime.settime()  # sets the RTC to UTC
        except Exception as e:  # OSError on timeout, IndexError on bad packets
            self.next_ntp_ms = up + _NTP_RETRY_MS
            log.warn("NTP failed (%s); retry in %ds" % (e, _NTP_RETRY_MS // 1000))
            return False
        first = not self.synced
        self.mark_synced()
        self.next_ntp_ms = up + every_s * 1000
        if first:
            log.info("clock set by NTP: %s" % iso_utc(self.unix()))
        return True

    def note_valid_clock(self):
        # A clock that survived a soft reset is valid without NTP: pin the
        # mapping for this boot too, so undated readings resolve the same way.
        if self.valid() and self.boot not in self._t0:
            self._t0[self.boot] = self.unix_ms() - self.uptime_ms()
            self._save()

    def resolve(self, boot, up_ms):
        """Unix seconds of a reading taken at up_ms in boot, or None."""
        t0 = self._t0.get(boot)
        if t0 is None:
            return None
        return (t0 + up_ms + 500) // 1000  # to the nearest second

    def knows_boot(self, boot):
        return boot in self._t0

    def _load(self):
        try:
            with open(self._boot_file) as f:
                for line in f:
                    p = line.split()
                    if len(p) == 2:
                        self._t0[int(p[0])] = int(p[1])
        except (OSError, ValueError):
            pass

    def _save(self):
        # Keep the 32 most recent boots: older ones cannot have undated
        # readings left (the queue cap drops them first).
        keys = sorted(self._t0)[-32:]
        tmp = self._boot_file + ".tmp"
        with open(tmp, "w") as f:
            for k in keys:
                f.write("%d %d\n" % (k, self._t0[k]))
        replace(tmp, self._boot_file)

