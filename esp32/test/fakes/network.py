# Fake of the `network` module: one station interface whose link follows
# sim.wifi_up; joining takes sim.wifi_join_ms of simulated time.
import sim as _sim

STA_IF = 0
AP_IF = 1
# The ESP32 port's values.
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204


class WLAN:
    connects = []

    def __init__(self, i=STA_IF):
        self._active = False
        self._ssid = None
        self._since = None
        self._lost = False

    def active(self, v=None):
        if v is None:
            return self._active
        self._active = bool(v)

    def connect(self, ssid, key=""):
        if not self._active:
            raise OSError("Wifi Not Started")
        WLAN.connects.append((ssid, _sim.SIM.up_ms))
        self._ssid = ssid
        self._since = _sim.SIM.up_ms
        self._lost = False

    def disconnect(self):
        self._ssid = None

    def isconnected(self):
        s = _sim.SIM
        if self._ssid is None or self._lost:
            return False
        if not s.wifi_up or (s.ssids is not None and self._ssid not in s.ssids):
            if s.up_ms - self._since >= s.wifi_join_ms:
                self._lost = True  # once the AP is gone the association is gone
            return False
        return s.up_ms - self._since >= s.wifi_join_ms

    def ifconfig(self):
        return ("192.168.4.20", "255.255.255.0", "192.168.4.1", "192.168.4.1")

    def status(self, what=None):
        if what == "rssi":
            if not self.isconnected():
                raise OSError("not connected")
            return -61
        s = _sim.SIM
        if self._ssid is not None and s.wifi_status is not None:
            return s.wifi_status  # e.g. STAT_WRONG_PASSWORD
        if self.isconnected():
            return STAT_GOT_IP
        return STAT_CONNECTING if self._ssid is not None and not self._lost else STAT_IDLE
