package bench

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// row is one synthetic reading as it is stored.
type row struct {
	DeviceID   string
	RecordedAt time.Time
	Temp       float64
	V, MA, MW  float64
	Pressure   float64 // payload.sensor.bmp280.pressure_hpa
	Payload    []byte
}

// history yields n readings of `devices` devices, oldest first, in runs
// of `run` consecutive readings of one device, the devices taking turns,
// ending at end and spaced so that each device spans `span`. With runs of
// 1 that is the order in which a fleet's readings arrive (one device's rows
// spread over the table as in production): at 10 M rows and 1,000 devices
// over 35 days, one reading per device every ~5 minutes, the firmware's
// interval. With runs of 100 it is the order of the batch phase, where
// each request carries 100 readings of one device.
type history struct {
	devices, n int
	end        time.Time
	step       time.Duration
	run        int
	i          int
	ids        []string
}

func newHistory(prefix string, devices, run, n int, end time.Time, span time.Duration) *history {
	perDevice := max(n/devices/run, 1) * run
	h := &history{devices: devices, run: run, n: perDevice * devices, end: end.Truncate(time.Second),
		step: span / time.Duration(perDevice)}
	for d := range devices {
		h.ids = append(h.ids, fmt.Sprintf("%s-%04d", prefix, d))
	}
	return h
}

// next returns the next row, or false after the last.
func (h *history) next(r *row) bool {
	if h.i >= h.n {
		return false
	}
	perDevice := h.n / h.devices
	block := h.i / h.run
	d, t := block%h.devices, block/h.devices*h.run+h.i%h.run
	h.i++
	r.DeviceID = h.ids[d]
	r.RecordedAt = h.end.Add(-time.Duration(perDevice-1-t) * h.step)
	r.Temp = temperatureAt(h.i)
	r.V, r.MA, r.MW = voltageAt(h.i), currentAt(h.i), powerAt(h.i)
	r.Pressure = pressureAt(h.i)
	r.Payload = appendPayload(r.Payload[:0], h.i)
	return true
}

// The synthetic sensor values of reading i, varying so that aggregates
// have work to do; rounded to 0.1 as the firmware rounds them.
func temperatureAt(i int) float64 { return 20 + float64(i%100)/10 }
func voltageAt(i int) float64     { return 4.9 + float64(i%20)/100 }
func currentAt(i int) float64     { return 100 + float64(i%200) }
func pressureAt(i int) float64    { return 1000 + float64(i%300)/10 }
func powerAt(i int) float64       { return math.Round(voltageAt(i)*currentAt(i)*10) / 10 }

// appendPayload appends reading i's payload as the firmware writes it
// (esp32/lib/reading.py to_api): power figures, then the BMP280's and the
// INA219's own report.
func appendPayload(b []byte, i int) []byte {
	b = append(b, `{"voltage_v":`...)
	b = strconv.AppendFloat(b, voltageAt(i), 'f', 2, 64)
	b = append(b, `,"current_ma":`...)
	b = strconv.AppendFloat(b, currentAt(i), 'f', 1, 64)
	b = append(b, `,"power_mw":`...)
	b = strconv.AppendFloat(b, powerAt(i), 'f', 1, 64)
	b = append(b, `,"sensor":{"bmp280":{"temperature_c":`...)
	b = strconv.AppendFloat(b, temperatureAt(i), 'f', 1, 64)
	b = append(b, `,"pressure_hpa":`...)
	b = strconv.AppendFloat(b, pressureAt(i), 'f', 1, 64)
	b = append(b, `},"ina219":{"shunt_ohms":0.1,"max_current_a":3.2}}}`...)
	return b
}

// ceilingHistory is what the bulk-load ceilings load: n readings in the
// order the batch phase sends them (devices taking turns, 100 readings of
// one device at a time), so that the ceiling and the API are compared on
// the same rows in the same order.
func ceilingHistory(devices, n int) *history {
	return newHistory("ceiling", devices, batchSize, n, time.Now(), 24*time.Hour)
}
