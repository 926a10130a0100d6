package simulate

import (
	"math"
	"math/rand/v2"
	"time"
)

// model is the physics of one simulated node: a room whose temperature
// follows the day, warmed by a thermostat-switched 5 V heater that the
// INA219 measures. The heater cycles within minutes, so a demo shows
// moving curves right away; the day and the weather move underneath.
type model struct {
	rng        *rand.Rand
	offset     float64 // this room's ambient offset, °C
	temp       float64 // room temperature, °C
	heater     bool
	setpoint   float64
	pressure   float64 // hPa, a slow random walk
	supply     float64 // supply voltage, V
	last       time.Time
	sensorFail float64 // chance of a failed sensor read per measurement
}

func newModel(rng *rand.Rand, at time.Time) *model {
	m := &model{
		rng:        rng,
		offset:     rng.Float64()*4 - 2,
		pressure:   1008 + rng.Float64()*10,
		supply:     4.95 + rng.Float64()*0.1,
		last:       at,
		sensorFail: 0.002,
	}
	m.temp = m.ambient(at)
	m.setpoint = m.ambient(at) + 1.5 + rng.Float64()
	return m
}

// ambient is the outside-driven room temperature: coolest near 05:00,
// warmest near 15:00 (UTC; the shape is what matters).
func (m *model) ambient(at time.Time) float64 {
	h := float64(at.Hour()) + float64(at.Minute())/60
	return 21 + m.offset + 3*math.Sin(2*math.Pi*(h-9)/24)
}

// sample is one measurement. nil sensor values mean that sensor failed.
type sample struct {
	temperatureC, pressureHPa    *float64
	voltageV, currentMA, powerMW *float64
	bmpError, inaError           string
}

// step advances the room to at and measures it.
func (m *model) step(at time.Time) sample {
	dt := at.Sub(m.last).Seconds()
	if dt < 0 {
		dt = 0
	}
	m.last = at
	// First-order room: relaxes to ambient with a 20-minute time
	// constant; the heater adds up to 4 °C above it.
	const tau = 20 * 60.0
	target := m.ambient(at)
	if m.heater {
		target += 4
	}
	k := 1 - math.Exp(-dt/tau)
	m.temp += (target - m.temp) * k
	// Thermostat with hysteresis.
	if m.temp < m.setpoint-0.4 {
		m.heater = true
	} else if m.temp > m.setpoint+0.4 {
		m.heater = false
	}
	m.pressure += m.rng.NormFloat64() * 0.02 * math.Sqrt(max(dt, 1)/60)
	m.pressure = min(max(m.pressure, 980), 1040)

	var s sample
	if m.rng.Float64() < m.sensorFail {
		s.bmpError = "BMP280 at 0x76: [Errno 116] ETIMEDOUT"
	} else {
		t := round(m.temp+m.rng.NormFloat64()*0.03, 2)
		p := round(m.pressure+m.rng.NormFloat64()*0.05, 2)
		s.temperatureC, s.pressureHPa = &t, &p
	}
	if m.rng.Float64() < m.sensorFail {
		s.inaError = "INA219 at 0x40: [Errno 19] ENODEV"
	} else {
		i := 38 + m.rng.NormFloat64()*1.5 // the ESP32 itself, Wi-Fi bursts included
		if m.heater {
			i += 300
		}
		v := m.supply - i/1000*0.25 + m.rng.NormFloat64()*0.004 // cable drop
		i = round(i, 2)
		v = round(v, 3)
		p := round(v*i, 1)
		s.voltageV, s.currentMA, s.powerMW = &v, &i, &p
	}
	return s
}

func round(v float64, places int) float64 {
	f := math.Pow(10, float64(places))
	return math.Round(v*f) / f
}
