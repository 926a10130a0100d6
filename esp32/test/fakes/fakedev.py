# Register-level models of the two I2C sensors, following their datasheets,
# so the drivers are tested against the chips' behaviour, not against
# themselves.
import struct

# BMP280 datasheet, section 3.11.3 worked example.
BMP_CAL = (27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
BMP_ADC_T = 519888
BMP_ADC_P = 415148


class FakeBMP280:
    def __init__(self, sim=None, adc_t=BMP_ADC_T, adc_p=BMP_ADC_P, chip_id=0x58, step_t=0):
        self.sim = sim
        self.adc_t = adc_t
        self.adc_p = adc_p
        self.chip_id = chip_id
        self.step_t = step_t  # added to adc_t after every measurement
        self.fail = False
        self.measured = False
        self.triggers = []  # true unix time of each forced measurement
        self.cal = struct.pack("<HhhHhhhhhhhh", *BMP_CAL)

    def read(self, reg, n):
        if self.fail:
            raise OSError(19)
        if reg == 0xD0:
            return bytes((self.chip_id,))
        if reg == 0x88:
            return self.cal[:n]
        if reg == 0xF3:
            return b"\x00"
        if reg == 0xF7:
            p, t = (self.adc_p, self.adc_t) if self.measured else (0x80000, 0x80000)
            return bytes(((p >> 12) & 0xFF, (p >> 4) & 0xFF, (p & 0xF) << 4,
                          (t >> 12) & 0xFF, (t >> 4) & 0xFF, (t & 0xF) << 4))[:n]
        return bytes(n)

    def write(self, reg, data):
        if self.fail:
            raise OSError(19)
        if reg == 0xF4 and data[0] & 0x03 == 0x01:
            if self.measured:
                self.adc_t += self.step_t
            self.measured = True
            if self.sim is not None:
                self.triggers.append(self.sim.true_ms)


class FakeINA219:
    """Current = shunt * cal / 4096, power = current * bus / 5000 (SBOS448 8.5.1)."""

    def __init__(self, shunt_raw=2000, bus_reg=0x5D98):
        self.regs = {0: 0x399F, 1: shunt_raw & 0xFFFF, 2: bus_reg, 5: 0}
        self.fail = False
        self.writes = []

    def _reg(self, r):
        if r in (3, 4):
            cal = self.regs[5]
            shunt = self.regs[1]
            if shunt & 0x8000:
                shunt -= 0x10000
            current = int(shunt * cal / 4096)
            if r == 4:
                return current & 0xFFFF
            return (abs(current) * (self.regs[2] >> 3) // 5000) & 0xFFFF
        return self.regs.get(r, 0)

    def read(self, reg, n):
        if self.fail:
            raise OSError(19)
        v = self._reg(reg)
        return bytes(((v >> 8) & 0xFF, v & 0xFF))[:n]

    def write(self, reg, data):
        if self.fail:
            raise OSError(19)
        self.writes.append((reg, bytes(data)))
        if reg == 0:
            self.regs[0] = (data[0] << 8) | data[1]
        elif reg == 5:
            self.regs[5] = ((data[0] << 8) | data[1]) & 0xFFFE
