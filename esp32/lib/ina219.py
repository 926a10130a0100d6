# TI INA219 over machine.I2C: bus voltage (V), current (mA), power (mW).
# Calibration follows the datasheet (SBOS448, 8.5.1):
#   Current_LSB = max expected current / 2**15
#   Cal = trunc(0.04096 / (Current_LSB * R_shunt)),  Power_LSB = 20 * Current_LSB
from micropython import const

_REG_CONFIG = const(0x00)
_REG_SHUNT = const(0x01)
_REG_BUS = const(0x02)
_REG_POWER = const(0x03)
_REG_CURRENT = const(0x04)
_REG_CAL = const(0x05)


def calibration(shunt_ohms, max_current_a):
    """-> (cal register value, current LSB in A, power LSB in W)."""
    current_lsb = max_current_a / 32768
    cal = int(0.04096 / (current_lsb * shunt_ohms))
    if cal > 0xFFFE:
        # The register has 15 usable bits; a larger value means the LSB is
        # finer than the ADC can resolve, so clamp and recompute the LSB.
        cal = 0xFFFE
        current_lsb = 0.04096 / (cal * shunt_ohms)
    cal &= 0xFFFE  # bit 0 is read-only
    return cal, current_lsb, 20 * current_lsb


def config_word(shunt_ohms, max_current_a):
    # 32 V bus range, the smallest PGA range that covers the largest shunt
    # drop, 12-bit ADCs, shunt and bus continuous.
    vmax = shunt_ohms * max_current_a
    pga = 3
    for i, lim in enumerate((0.04, 0.08, 0.16)):
        if vmax <= lim * 1.000001:  # 0.1 * 0.4 is 0.04000000000000001
            pga = i
            break
    return (1 << 13) | (pga << 11) | (0b0011 << 7) | (0b0011 << 3) | 0b111


def _s16(b):
    v = (b[0] << 8) | b[1]
    return v - 65536 if v & 0x8000 else v


class INA219:
    def __init__(self, i2c, addr=0x40, shunt_ohms=0.1, max_current_a=3.2):
        self.i2c = i2c
        self.addr = addr
        self.shunt_ohms = shunt_ohms
        self.cal, self.current_lsb, self.power_lsb = calibration(shunt_ohms, max_current_a)
        self._config = config_word(shunt_ohms, max_current_a)
        self.setup()

    def _write(self, reg, value):
        self.i2c.writeto_mem(self.addr, reg, bytes(((value >> 8) & 0xFF, value & 0xFF)))

    def setup(self):
        self._write(_REG_CONFIG, self._config)
        self._write(_REG_CAL, self.cal)

    def read(self):
        """Returns (bus_voltage_v, current_ma, power_mw). Raises OSError on a
        bus error or a math overflow (current beyond the configured range)."""
        i2c, addr = self.i2c, self.addr
        # The calibration register is lost on a brown-out of the sensor; a
        # zero read-back means current/power would read 0, so rewrite it.
        c = i2c.readfrom_mem(addr, _REG_CAL, 2)
        if ((c[0] << 8) | c[1]) != self.cal:
            self.setup()
        b = i2c.readfrom_mem(addr, _REG_BUS, 2)
        raw = (b[0] << 8) | b[1]
        if raw & 0x01:
            raise OSError("INA219 math overflow: current above max_current_a")
        volts = (raw >> 3) * 0.004
        current = _s16(i2c.readfrom_mem(addr, _REG_CURRENT, 2)) * self.current_lsb
        b = i2c.readfrom_mem(addr, _REG_POWER, 2)
        power = ((b[0] << 8) | b[1]) * self.power_lsb
        return volts, current * 1000, power * 1000

    def shunt_mv(self):
        return _s16(self.i2c.readfrom_mem(self.addr, _REG_SHUNT, 2)) * 0.01
