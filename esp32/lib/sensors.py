# The board's sensors on one I2C bus: a BMP280 (temperature, pressure) and an
# INA219 (supply voltage, current, power). A read never raises: a sensor that
# fails returns its error, is set up again at the next read (it may have been
# replugged) and never stops the loop or the other sensor.
import machine

from bmp280 import BMP280
from ina219 import INA219


class Sensors:
    def __init__(self, cfg, log):
        self.cfg = cfg
        self.log = log
        self.i2c = None
        self.bmp = None
        self.ina = None

    def _bus(self):
        if self.i2c is None:
            c = self.cfg["i2c"]
            self.i2c = machine.I2C(c["id"], scl=machine.Pin(c["scl"]), sda=machine.Pin(c["sda"]), freq=c["freq"])
        return self.i2c

    def read_bmp(self):
        """((temperature_c, pressure_hpa), None), or (None, why)."""
        try:
            if self.bmp is None:
                self.bmp = BMP280(self._bus(), self.cfg["bmp280_addr"])
            return self.bmp.read(), None
        except Exception as e:
            self.bmp = None
            return None, self._failed("BMP280", self.cfg["bmp280_addr"], e)

    def read_ina(self):
        """((voltage_v, current_ma, power_mw), None), or (None, why)."""
        c = self.cfg
        try:
            if self.ina is None:
                self.ina = INA219(self._bus(), c["ina219_addr"], c["shunt_ohms"], c["max_current_a"])
            return self.ina.read(), None
        except Exception as e:
            self.ina = None
            return None, self._failed("INA219", c["ina219_addr"], e)

    def _failed(self, name, addr, e):
        msg = "%s at 0x%02x: %s" % (name, addr, e)
        self.log.error(msg)
        return msg
