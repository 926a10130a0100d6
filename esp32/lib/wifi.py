# Wi-Fi station that never blocks the measurement loop: tick() advances a
# small state machine (start a connect, check it, give up after
# connect_timeout_s, try the next network, back off after a full round).
#
# isconnected() describes the interface, not the link (Peter Hinch): a dead
# access point can leave it True, and a weak one makes it flicker. So the
# link counts as up only after isconnected() has held for _STABLE_MS, and
# an error status (wrong password, no access point) ends the attempt at
# once, with a pause (retry.WIFI_ERROR_PAUSE_MS) instead of another connect
# straight away. The uplink reports consecutive socket failures through
# link_failed(), which forces a reconnect. How long to wait between rounds
# is retry.py's decision.
from micropython import const

import retry

_IDLE = const(0)
_CONNECTING = const(1)
_UP = const(2)
_POLL_MS = const(250)
_CHECK_MS = const(10000)
_STABLE_MS = const(3000)
_ERRORS = ("STAT_WRONG_PASSWORD", "STAT_NO_AP_FOUND", "STAT_CONNECT_FAIL", "STAT_ASSOC_FAIL",
           "STAT_HANDSHAKE_TIMEOUT", "STAT_BEACON_TIMEOUT")


class Wifi:
    def __init__(self, cfg, log):
        import network
        self.log = log
        self.nets = cfg["wifi"]
        self.timeout_ms = int(cfg["connect_timeout_s"] * 1000)
        self.wlan = network.WLAN(network.STA_IF)
        # The port's error codes of status(): those it defines.
        self.errors = tuple(getattr(network, n) for n in _ERRORS if hasattr(network, n))
        self.state = _IDLE
        self.idx = 0
        self.rounds = 0  # full rounds over all networks that failed
        self.next_ms = 0
        self.started_ms = 0
        self.held_since = None  # uptime at which isconnected() turned True

    def _start(self, up):
        net = self.nets[self.idx]
        self.state = _CONNECTING
        self.started_ms = up
        self.held_since = None
        try:
            self.wlan.active(True)
            self.wlan.connect(net["ssid"], net.get("password", ""))
            self.log.info("Wi-Fi: connecting to %r" % net["ssid"])
        except OSError as e:
            # The ESP32 raises "Wifi Internal Error" when the radio is busy.
            self.log.warn("Wi-Fi: connect to %r failed at once: %s" % (net["ssid"], e))
            self.started_ms = up - self.timeout_ms  # counts as a timed-out attempt

    def _give_up(self, up, status=None):
        net = self.nets[self.idx]
        if status is None:
            self.log.warn("Wi-Fi: no connection to %r within %ds" % (net["ssid"], self.timeout_ms // 1000))
        else:
            self.log.warn("Wi-Fi: connecting to %r failed with status %s" % (net["ssid"], status))
        try:
            self.wlan.disconnect()
        except OSError:
            pass
        self.idx += 1
        if self.idx >= len(self.nets):
            self.idx = 0
            self.rounds += 1
            delay = retry.wifi_round_delay_ms(self.rounds)
            if status is not None:
                delay = max(delay, retry.WIFI_ERROR_PAUSE_MS)
            self.state = _IDLE
            self.next_ms = up + delay
            self.log.warn("Wi-Fi: all networks failed; next try in %ds (readings are queued)" % (delay // 1000))
        elif status is not None:
            self.state = _IDLE
            self.next_ms = up + retry.WIFI_ERROR_PAUSE_MS
        else:
            self._start(up)

    def _status(self):
        try:
            return self.wlan.status()
        except (OSError, TypeError, AttributeError):
            return None

    def connected(self):
        """The link is up and has held (what tick() last found)."""
        return self.state == _UP

    def tick(self, up):
        """Advance the state machine; returns True when connected."""
        if self.wlan.isconnected():
            if self.state != _UP:
                if self.held_since is None:
                    self.held_since = up
                if up - self.held_since < _STABLE_MS:
                    return False  # not yet: it may drop again at once
                self.state = _UP
                self.rounds = 0
                ip = None
                try:
                    ip = self.wlan.ifconfig()[0]
                except (OSError, AttributeError):
                    pass
                self.log.info("Wi-Fi: connected to %r, ip %s" % (self.nets[self.idx]["ssid"], ip))
            return True
        self.held_since = None
        if self.state == _UP:
            self.log.warn("Wi-Fi: link lost; reconnecting")
            self.state = _IDLE
            self.next_ms = up
        if self.state == _CONNECTING:
            st = self._status()
            if st is not None and st in self.errors:
                self._give_up(up, st)
            elif up - self.started_ms >= self.timeout_ms:
                self._give_up(up)
        if self.state == _IDLE and up >= self.next_ms:
            self._start(up)
        return False

    def link_failed(self, up):
        """Several requests in a row died on the socket although the
        interface says connected: drop the association and start over."""
        self.log.warn("Wi-Fi: link looks dead (repeated socket errors); reconnecting")
        try:
            self.wlan.disconnect()
        except OSError:
            pass
        self.state = _IDLE
        self.next_ms = up

    def next_event_ms(self, up):
        if self.state == _CONNECTING or self.held_since is not None:
            return up + _POLL_MS
        if self.state == _IDLE:
            return max(up, self.next_ms)
        return up + _CHECK_MS

    def rssi(self):
        try:
            return self.wlan.status("rssi")
        except (OSError, ValueError, TypeError, AttributeError):
            return None
