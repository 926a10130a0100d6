# Fake of `ntptime`: settime() sets the RTC to the simulated true time,
# when the network is there.
import sim as _sim

host = "pool.ntp.org"
timeout = 1


def settime():
    s = _sim.SIM
    s.ntp_calls += 1
    if not s.wifi_up or not s.ntp_ok:
        s.advance(timeout * 1000, False)
        raise OSError(110)  # ETIMEDOUT, as a lost UDP packet gives
    s.ntp_set()
