# Bosch BMP280 over machine.I2C: temperature (degC) and pressure (hPa),
# using the datasheet's integer compensation (section 8.2: 32-bit for
# temperature, 64-bit for pressure). MicroPython ints are arbitrary
# precision, so only C's truncating division has to be imitated.
import time
from micropython import const

_REG_ID = const(0xD0)
_REG_RESET = const(0xE0)
_REG_STATUS = const(0xF3)
_REG_CTRL_MEAS = const(0xF4)
_REG_CONFIG = const(0xF5)
_REG_DATA = const(0xF7)
_REG_CALIB = const(0x88)
_CHIP_IDS = (0x56, 0x57, 0x58, 0x60)  # BMP280 samples/production, BME280
# osrs_t x2, osrs_p x16, forced mode: the datasheet's "indoor navigation"
# oversampling, one conversion per reading so the sensor sleeps in between.
_CTRL_FORCED = const((0b010 << 5) | (0b101 << 2) | 0b01)
_SKIPPED = const(0x80000)  # raw value of a measurement that did not run


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


def _s16(b, i):
    v = _u16(b, i)
    return v - 65536 if v & 0x8000 else v


def _cdiv(a, b):
    # C integer division truncates toward zero; Python's // floors.
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def compensate_t(adc_t, cal):
    """Returns (temperature in 0.01 degC, t_fine)."""
    t1, t2, t3 = cal[0], cal[1], cal[2]
    var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
    var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14
    t_fine = var1 + var2
    return (t_fine * 5 + 128) >> 8, t_fine


def compensate_p(adc_p, t_fine, cal):
    """Pressure in Pa as Q24.8 (divide by 256), or 0 when undefined."""
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = cal[3:12]
    var1 = t_fine - 128000
    var2 = var1 * var1 * p6
    var2 = var2 + ((var1 * p5) << 17)
    var2 = var2 + (p4 << 35)
    var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
    var1 = (((1 << 47) + var1) * p1) >> 33
    if var1 == 0:
        return 0  # avoids a division by zero, as in the datasheet
    p = 1048576 - adc_p
    p = _cdiv(((p << 31) - var2) * 3125, var1)
    var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (p8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (p7 << 4)


def parse_calibration(b):
    """24 bytes from 0x88 -> (T1, T2, T3, P1, P2, ... P9)."""
    return (_u16(b, 0), _s16(b, 2), _s16(b, 4), _u16(b, 6),
            _s16(b, 8), _s16(b, 10), _s16(b, 12), _s16(b, 14),
            _s16(b, 16), _s16(b, 18), _s16(b, 20), _s16(b, 22))


class BMP280:
    def __init__(self, i2c, addr=0x76):
        self.i2c = i2c
        self.addr = addr
        chip = i2c.readfrom_mem(addr, _REG_ID, 1)[0]
        if chip not in _CHIP_IDS:
            raise OSError("BMP280 at 0x%02x answered chip id 0x%02x" % (addr, chip))
        i2c.writeto_mem(addr, _REG_RESET, b"\xb6")
        time.sleep_ms(3)  # start-up time after reset, datasheet table 2
        self.cal = parse_calibration(i2c.readfrom_mem(addr, _REG_CALIB, 24))
        i2c.writeto_mem(addr, _REG_CONFIG, b"\x00")  # no IIR filter

    def read(self):
        """Returns (temperature_c, pressure_hpa). Raises OSError on a bus
        error or when the sensor produced no measurement."""
        i2c, addr = self.i2c, self.addr
        i2c.writeto_mem(addr, _REG_CTRL_MEAS, bytes((_CTRL_FORCED,)))
        # x2/x16 oversampling needs at most 43.2 ms (datasheet 3.8.1).
        time.sleep_ms(45)
        for _ in range(10):
            if not i2c.readfrom_mem(addr, _REG_STATUS, 1)[0] & 0x08:
                break
            time.sleep_ms(5)
        d = i2c.readfrom_mem(addr, _REG_DATA, 6)
        adc_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        adc_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        if adc_t == _SKIPPED or adc_p == _SKIPPED:
            raise OSError("BMP280 returned no measurement")
        t, t_fine = compensate_t(adc_t, self.cal)
        p = compensate_p(adc_p, t_fine, self.cal)
        if p == 0:
            raise OSError("BMP280 pressure undefined (bad calibration)")
        return t / 100, p / 25600  # 0.01 degC -> degC; Q24.8 Pa -> hPa
