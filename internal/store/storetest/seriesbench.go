package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// benchSeries measures the dashboard's chart query: one device's month in
// the default buckets (2 h for 30 days, 5 min for 24 h), for a device on
// the firmware's 5-minute interval and for one sending every 10 seconds
// (259,200 readings a month), beside nine other devices.
func benchSeries(b *testing.B, open func(tb testing.TB) store.Store) {
	for _, every := range []time.Duration{5 * time.Minute, 10 * time.Second} {
		b.Run(fmt.Sprintf("Series/every=%v", every), func(b *testing.B) {
			s := open(b)
			defer s.Close()
			month := 30 * 24 * time.Hour
			for d := range 10 {
				device := fmt.Sprintf("esp32-%02d", d)
				step := every
				if d != 5 {
					step = 5 * time.Minute
				}
				n := int(month / step)
				for i := 0; i < n; i += 5000 {
					rs := make([]thermowatt.Reading, 0, 5000)
					for j := i; j < min(i+5000, n); j++ {
						rs = append(rs, thermowatt.Reading{DeviceID: device, RecordedAt: base.Add(time.Duration(j) * step),
							Temperature: f(20 + float64(j%100)/10), VoltageV: f(4.9), CurrentMA: f(120), PowerMW: f(590),
							Payload: []byte(`{"voltage_v":4.9,"current_ma":120,"power_mw":590,"sensor":{"bmp280":{"pressure_hpa":1012.5}}}`)})
					}
					if _, err := s.InsertReadings(b.Context(), rs, base); err != nil {
						b.Fatal(err)
					}
				}
			}
			for _, c := range []struct {
				name   string
				span   time.Duration
				bucket time.Duration
			}{{"30d", month, 2 * time.Hour}, {"24h", 24 * time.Hour, 5 * time.Minute}} {
				b.Run(c.name, func(b *testing.B) {
					q := store.SeriesQuery{DeviceID: "esp32-05", From: base.Add(month - c.span), To: base.Add(month), Bucket: c.bucket}
					for b.Loop() {
						if pts, err := s.Series(b.Context(), q); err != nil || len(pts) == 0 {
							b.Fatalf("Series: %d points, %v", len(pts), err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/chart")
				})
			}
		})
	}
}
