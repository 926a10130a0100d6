# The drivers against the datasheets' worked examples, through register-
# level models of the chips on a fake machine.I2C.
import fw


def test_bmp280_integer_compensation_matches_datasheet_example():
    fw.setup()
    import bmp280
    from fakedev import BMP_CAL, BMP_ADC_T, BMP_ADC_P
    t, t_fine = bmp280.compensate_t(BMP_ADC_T, BMP_CAL)
    assert t_fine == 128422, t_fine  # datasheet 3.11.3
    assert t == 2508, t  # 25.08 degC
    p = bmp280.compensate_p(BMP_ADC_P, t_fine, BMP_CAL)
    # 64-bit integer result in Q24.8 Pa; the datasheet's (floating point)
    # result is 100653.27 Pa: the integer code agrees to 1/32 Pa.
    assert p == 25767233, p
    assert abs(p / 256 - 100653.27) < 0.03, p / 256


def test_bmp280_driver_reads_calibration_and_forced_measurement_over_i2c():
    fw.setup()
    import machine
    import bmp280
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
    s = bmp280.BMP280(i2c, 0x76)
    t, p = s.read()
    assert abs(t - 25.08) < 1e-6, t
    assert abs(p - 1006.5325) < 0.0001, p  # hPa


def test_bmp280_rejects_wrong_chip_and_missing_device():
    s = fw.setup()
    import machine
    import bmp280
    s.devices[0x76].chip_id = 0x11
    i2c = machine.I2C(0)
    try:
        bmp280.BMP280(i2c, 0x76)
        assert False, "accepted a wrong chip id"
    except OSError as e:
        assert "chip id 0x11" in str(e), e
    try:
        bmp280.BMP280(i2c, 0x77)  # nothing there
        assert False, "no error for an absent sensor"
    except OSError as e:
        assert e.args[0] == 19, e


def test_ina219_calibration_matches_ti_example():
    fw.setup()
    import ina219
    # SBOS448 table "Configure/Measure/Calculate Example": R_shunt = 2 mOhm,
    # Current_LSB = 1 mA (max expected 32.768 A / 2**15) -> Cal = 20480 (5000h).
    cal, current_lsb, power_lsb = ina219.calibration(0.002, 32.768)
    assert cal == 20480, cal
    assert abs(current_lsb - 0.001) < 1e-12
    assert abs(power_lsb - 0.020) < 1e-12
    # The Adafruit breakout: 0.1 Ohm, 3.2 A -> LSB 97.66 uA, Cal 4194.
    assert ina219.calibration(0.1, 3.2)[0] == 4194


def test_ina219_reads_ti_example_values():
    s = fw.setup()
    import machine
    import ina219
    from fakedev import FakeINA219
    # Shunt 07D0h (20 mV), bus 5D98h (11.98 V); the chip computes current
    # 2710h (10 A) and power 1766h (119.8 W) from the calibration register.
    s.devices[0x40] = FakeINA219(shunt_raw=0x07D0, bus_reg=0x5D98)
    dev = ina219.INA219(machine.I2C(0), 0x40, shunt_ohms=0.002, max_current_a=32.768)
    assert s.devices[0x40].regs[5] == 0x5000
    v, ma, mw = dev.read()
    assert abs(v - 11.98) < 1e-9, v
    assert abs(ma - 10000) < 1e-6, ma
    assert abs(mw - 119800) < 1e-6, mw
    assert abs(dev.shunt_mv() - 20.0) < 1e-9


def test_ina219_rewrites_lost_calibration_and_reports_overflow():
    s = fw.setup()
    import machine
    import ina219
    dev = ina219.INA219(machine.I2C(0), 0x40, 0.1, 3.2)
    s.devices[0x40].regs[5] = 0  # the sensor browned out
    v, ma, mw = dev.read()
    assert s.devices[0x40].regs[5] == 4194
    assert ma > 0, ma
    s.devices[0x40].regs[2] |= 1  # OVF bit
    try:
        dev.read()
        assert False, "overflow not reported"
    except OSError as e:
        assert "overflow" in str(e)


def test_ina219_picks_smallest_pga_range_covering_the_shunt_drop():
    fw.setup()
    import ina219
    pga = lambda r, i: (ina219.config_word(r, i) >> 11) & 3
    assert pga(0.1, 0.4) == 0  # 40 mV
    assert pga(0.1, 0.8) == 1  # 80 mV
    assert pga(0.1, 1.6) == 2  # 160 mV
    assert pga(0.1, 3.2) == 3  # 320 mV
