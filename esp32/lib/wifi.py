# Wi-Fi station that never blocks the measurement loop: tick() advances a
# small state machine (start a connect, check it, give up after
# connect_timeout_s, try the next network, back off after a full round).
#
# isconnected() describes the interface, not the link (Peter Hinch): a dead
# access point can leave it True. The uplink reports consecutive socket
# failures through link_failed(), which forces a reconnect.
from micropython import const

_IDLE = const(0)
_CONNECTING = const(1)
_UP = const(2)
_POLL_MS = const(250)
_CHECK_MS = const(10000)
_MAX_ROUND_BACKOFF_MS = const(300000)


class Wifi:
    def __init__(self, cfg, log):
        import network
        self.log = log
        self.nets = cfg["wifi"]
        self.timeout_ms = int(cfg["connect_timeout_s"] * 1000)
        self.wlan = network.WLAN(network.STA_IF)
        self.state = _IDLE
        self.idx = 0
        self.rounds = 0  # full rounds over all networks that failed
        self.next_ms = 0
        self.started_ms = 0

    def _start(self, up):
        net = self.nets[self.idx]
        self.state = _CONNECTING
        self.started_ms = up
        try:
            self.wlan.active(True)
            self.wlan.connect(net["ssid"], net.get("password", ""))
            self.log.info("Wi-Fi: connecting to %r" % net["ssid"])
        except OSError as e:
            # The ESP32 raises "Wifi Internal Error" when the radio is busy.
            self.log.warn("Wi-Fi: connect to %r failed at once: %s" % (net["ssid"], e))
            self.started_ms = up - self.timeout_ms  # counts as a timed-out attempt

    def _give_up(self, up):
        net = self.nets[self.idx]
        self.log.warn("Wi-Fi: no connection to %r within %ds" % (net["ssid"], self.timeout_ms // 1000))
        try:
            self.wlan.disconnect()
        except OSError:
            pass
        self.idx += 1
        if self.idx >= len(self.nets):
            self.idx = 0
            self.rounds += 1
            delay = min(_MAX_ROUND_BACKOFF_MS, 5000 << min(self.rounds, 10))
            self.state = _IDLE
            self.next_ms = up + delay
            self.log.warn("Wi-Fi: all networks failed; next try in %ds (readings are queued)" % (delay // 1000))
        else:
            self._start(up)

    def tick(self, up):
        """Advance the state machine; returns True when connected."""
        if self.wlan.isconnected():
            if self.state != _UP:
                self.state = _UP
                self.rounds = 0
                ip = None
                try:
                    ip = self.wlan.ifconfig()[0]
                except (OSError, AttributeError):
                    pass
                self.log.info("Wi-Fi: connected to %r, ip %s" % (self.nets[self.idx]["ssid"], ip))
            return True
        if self.state == _UP:
            self.log.warn("Wi-Fi: link lost; reconnecting")
            self.state = _IDLE
            self.next_ms = up
        if self.state == _CONNECTING and up - self.started_ms >= self.timeout_ms:
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
        if self.state == _CONNECTING:
            return up + _POLL_MS
        if self.state == _IDLE:
            return max(up, self.next_ms)
        return up + _CHECK_MS

    def rssi(self):
        try:
            return self.wlan.status("rssi")
        except (OSError, ValueError, TypeError, AttributeError):
            return None
