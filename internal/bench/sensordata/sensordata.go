// Package sensordata generates sensor-like readings for the disk and codec
// benchmarks (issue 20): the values and the payload the firmware sends
// (esp32/lib/reading.py), from a model that moves as a room and a load do,
// so that time-series encodings meet the noise and the structure of real
// data rather than a counter.
package sensordata

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt"
)

// Config says what to generate.
type Config struct {
	Devices   int
	PerDevice int
	Start     time.Time     // the first reading of every device
	Step      time.Duration // between a device's readings
	Seed      uint64
	// HealthEvery puts payload.device (firmware, uptime, heap, RSSI…) on
	// every n-th reading, as the firmware does on the last reading of a
	// batch; 0: never.
	HealthEvery int
}

// Default is issue 20's set: 20 devices × 10,000 readings five minutes
// apart from 1 January 2025, so that every week is long closed; the
// firmware's batch of 20 carries its health report.
func Default() Config {
	return Config{Devices: 20, PerDevice: 10_000, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		Step: 5 * time.Minute, Seed: 2025, HealthEvery: 20}
}

// N is the number of readings of the whole set.
func (c Config) N() int { return c.Devices * c.PerDevice }

// End is just after the last reading.
func (c Config) End() time.Time { return c.Start.Add(time.Duration(c.PerDevice) * c.Step) }

// DeviceID is device d's id.
func (c Config) DeviceID(d int) string { return fmt.Sprintf("sensor-%03d", d) }

// Reading is a generated reading: what the server stores from the
// firmware's request (the typed values copied out of the payload), and
// the pressure, which the firmware sends only inside the payload
// (sensor.bmp280.pressure_hpa).
type Reading struct {
	thermowatt.Reading
	PressureHPA *float64
}

// Device generates device d's readings, oldest first; the same config
// gives the same readings. ReceivedAt is the reading's time plus a
// network delay, as when each is sent once taken.
func (c Config) Device(d int) []Reading {
	rng := rand.New(rand.NewPCG(c.Seed, uint64(d)))
	m := newRoom(rng)
	out := make([]Reading, c.PerDevice)
	boot := 1 + rng.IntN(5)
	var payload []byte
	for j := range out {
		at := c.Start.Add(time.Duration(j) * c.Step)
		s := m.step(at, c.Step)
		health := c.HealthEvery > 0 && (j+1)%c.HealthEvery == 0
		payload = appendPayload(payload[:0], s, health, boot, time.Duration(j+1)*c.Step, rng)
		r := Reading{PressureHPA: s.pressure}
		r.DeviceID = c.DeviceID(d)
		r.RecordedAt = at
		r.ReceivedAt = at.Add(time.Duration(150_000+rng.IntN(700_000)) * time.Microsecond)
		r.Temperature, r.VoltageV, r.CurrentMA, r.PowerMW = s.temperature, s.voltage, s.current, s.power
		r.Payload = append([]byte(nil), payload...)
		out[j] = r
	}
	return out
}

// room is one device's surroundings: a room whose temperature follows the
// day with a per-device offset, a load (a heater, a pump) switching
// between two levels for spells of random length, a 5 V supply with
// ripple and cable drop, and the weather's pressure drifting.
type room struct {
	rng      *rand.Rand
	offset   float64 // °C
	temp     float64 // the room's smoothed deviation from its daily curve
	loadOn   bool
	spell    time.Duration // until the load switches
	supply   float64
	pressure float64
}

func newRoom(rng *rand.Rand) *room {
	return &room{rng: rng, offset: rng.Float64()*4 - 2, supply: 4.95 + rng.Float64()*0.1,
		pressure: 1005 + rng.Float64()*15, spell: time.Duration(rng.IntN(240)) * time.Minute}
}

type sample struct {
	temperature, pressure   *float64
	voltage, current, power *float64
	bmpError, inaError      string
}

func (m *room) step(at time.Time, dt time.Duration) sample {
	rng := m.rng
	h := float64(at.Hour()) + float64(at.Minute())/60
	m.temp = 0.9*m.temp + rng.NormFloat64()*0.05 // weather and doors, slow
	temp := 21 + m.offset + 3*math.Sin(2*math.Pi*(h-9)/24) + m.temp
	if m.spell -= dt; m.spell <= 0 {
		m.loadOn = !m.loadOn
		m.spell = time.Duration(20+rng.IntN(300)) * time.Minute
	}
	m.pressure += rng.NormFloat64() * 0.08
	m.pressure += (1013 - m.pressure) * 0.001 // back towards the mean
	var s sample
	if rng.Float64() < 0.001 {
		s.bmpError = "BMP280 at 0x76: [Errno 116] ETIMEDOUT"
	} else {
		t := round(temp+rng.NormFloat64()*0.02, 2) // the sensor's noise, at its 0.01 °C resolution
		p := round(m.pressure+rng.NormFloat64()*0.03, 2)
		s.temperature, s.pressure = &t, &p
	}
	if rng.Float64() < 0.001 {
		s.inaError = "INA219 at 0x40: [Errno 19] ENODEV"
	} else {
		i := 38 + rng.NormFloat64()*1.5
		if m.loadOn {
			i += 300 + rng.NormFloat64()*3
		}
		ripple := 0.01 * math.Sin(float64(at.Unix())*2*math.Pi/7.3) // a slow beat of the regulator against the interval
		v := m.supply - i/1000*0.25 + ripple + rng.NormFloat64()*0.004
		i, v = round(i, 2), round(v, 3)
		p := round(v*i, 1)
		s.voltage, s.current, s.power = &v, &i, &p
	}
	return s
}

func round(v float64, places int) float64 {
	f := math.Pow(10, float64(places))
	return math.Round(v*f) / f
}

// appendNumber writes v as MicroPython's json does: the shortest repr,
// with ".0" on whole numbers; null for none.
func appendNumber(b []byte, v *float64) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, *v, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

// appendPayload writes the payload as esp32/lib/reading.py write_json
// does, token for token.
func appendPayload(b []byte, s sample, health bool, boot int, uptime time.Duration, rng *rand.Rand) []byte {
	b = append(b, `{"voltage_v":`...)
	b = appendNumber(b, s.voltage)
	b = append(b, `,"current_ma":`...)
	b = appendNumber(b, s.current)
	b = append(b, `,"power_mw":`...)
	b = appendNumber(b, s.power)
	if s.bmpError != "" {
		b = append(b, `,"sensor":{"bmp280":{"error":`...)
		b = strconv.AppendQuote(b, s.bmpError)
	} else {
		b = append(b, `,"sensor":{"bmp280":{"temperature_c":`...)
		b = appendNumber(b, s.temperature)
		b = append(b, `,"pressure_hpa":`...)
		b = appendNumber(b, s.pressure)
	}
	b = append(b, `},"ina219":{"shunt_ohms":0.1,"max_current_a":3.2`...)
	if s.inaError != "" {
		b = append(b, `,"error":`...)
		b = strconv.AppendQuote(b, s.inaError)
	}
	b = append(b, `}}`...)
	if health {
		b = append(b, `,"device":{"firmware":"1.8.2","uptime_s":`...)
		b = strconv.AppendInt(b, int64(uptime/time.Second), 10)
		b = append(b, `,"free_heap":`...)
		b = strconv.AppendInt(b, int64(61_000+rng.IntN(4_000)), 10)
		b = append(b, `,"rssi_dbm":`...)
		b = strconv.AppendInt(b, int64(-58-rng.IntN(15)), 10)
		b = append(b, `,"queue_depth":0,"dropped":0,"dead_lettered":0,"last_error":null,"reset_cause":"power_on","boot":`...)
		b = strconv.AppendInt(b, int64(boot), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// AppendWire appends r as the firmware's request carries it (a reading
// object of POST /api/measurements).
func AppendWire(b []byte, r *Reading) []byte {
	b = append(b, `{"deviceId":"`...)
	b = append(b, r.DeviceID...)
	b = append(b, `","recordedAt":"`...)
	b = r.RecordedAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","temperature":`...)
	b = appendNumber(b, r.Temperature)
	b = append(b, `,"humidity":null,"payload":`...)
	b = append(b, r.Payload...)
	return append(b, '}')
}
