package bench

import (
	"fmt"
	"strconv"
	"time"
)

// row is one synthetic reading as it is stored.
type row struct {
	DeviceID   string
	RecordedAt time.Time
	Temp, Hum  float64
	V, MA, MW  float64
	Payload    []byte
}

// history yields n readings of `devices` devices, oldest first and
// interleaved across devices (the order in which a fleet's readings
// arrive, so that one device's rows are spread over the table as they are
// in production), ending at end and spaced so that each device spans
// `span`. At 10 M rows and 1,000 devices over 35 days that is one reading
// per device every ~5 minutes, the firmware's interval.
type history struct {
	devices, n int
	end        time.Time
	step       time.Duration
	i          int
	ids        []string
}

func newHistory(prefix string, devices, n int, end time.Time, span time.Duration) *history {
	perDevice := max(n/devices, 1)
	h := &history{devices: devices, n: perDevice * devices, end: end.Truncate(time.Second),
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
	t, d := h.i/h.devices, h.i%h.devices
	h.i++
	r.DeviceID = h.ids[d]
	r.RecordedAt = h.end.Add(-time.Duration(perDevice-1-t) * h.step)
	r.Temp = 20 + float64(h.i%100)/10
	r.Hum = 40 + float64(h.i%50)/10
	r.V, r.MA, r.MW = 5.02, 100+float64(h.i%200), 500+float64(h.i%1000)
	r.Payload = r.Payload[:0]
	r.Payload = append(r.Payload, `{"voltage_v":5.02,"current_ma":`...)
	r.Payload = strconv.AppendFloat(r.Payload, r.MA, 'f', 1, 64)
	r.Payload = append(r.Payload, `,"power_mw":`...)
	r.Payload = strconv.AppendFloat(r.Payload, r.MW, 'f', 1, 64)
	r.Payload = append(r.Payload, '}')
	return true
}
