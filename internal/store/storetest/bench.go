package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Bench measures the hot paths of a backend: storing batches of readings
// as devices send them, and reading a page of one device. open is as for
// Run.
func Bench(b *testing.B, open func(tb testing.TB) store.Store) {
	for _, size := range []int{1, 50, 500} {
		b.Run(fmt.Sprintf("InsertReadings/batch=%d", size), func(b *testing.B) {
			s := open(b)
			defer s.Close()
			benchInsert(b, s, size)
		})
	}
	b.Run("InsertReadings/duplicates/batch=500", func(b *testing.B) {
		// A device resending a batch the server already has.
		s := open(b)
		defer s.Close()
		rs := batchOf(500, "esp32-dup", base)
		if _, err := s.InsertReadings(b.Context(), rs, base); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := s.InsertReadings(b.Context(), rs, base); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "readings/s")
	})
	b.Run("QueryReadings/device/limit=500", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		for d := range 10 {
			for i := range 4 {
				rs := batchOf(500, fmt.Sprintf("esp32-%02d", d), base.Add(time.Duration(i)*500*time.Minute))
				if _, err := s.InsertReadings(b.Context(), rs, base); err != nil {
					b.Fatal(err)
				}
			}
		}
		q := store.Query{DeviceID: "esp32-05", Limit: 500}
		b.ResetTimer()
		for b.Loop() {
			got, err := s.QueryReadings(b.Context(), q)
			if err != nil || len(got) != 500 {
				b.Fatalf("QueryReadings: %d readings, %v", len(got), err)
			}
		}
	})
	benchSeries(b, open) // the dashboard's charts: seriesbench.go
}

func benchInsert(b *testing.B, s store.Store, size int) {
	start := base
	n := 0
	for b.Loop() {
		rs := batchOf(size, fmt.Sprintf("esp32-%02d", n%8), start)
		start = start.Add(time.Duration(size) * time.Minute)
		if _, err := s.InsertReadings(b.Context(), rs, base); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "readings/s")
}

// batchOf returns n readings of one device a minute apart from start, with
// every field set, as an ESP32 sends them.
func batchOf(n int, device string, start time.Time) []thermowatt.Reading {
	rs := make([]thermowatt.Reading, n)
	for i := range rs {
		rs[i] = thermowatt.Reading{
			DeviceID:    device,
			RecordedAt:  start.Add(time.Duration(i) * time.Minute),
			Temperature: f(21.5), Humidity: f(40), VoltageV: f(3.3), CurrentMA: f(120.5), PowerMW: f(397.6),
			Payload: []byte(`{"voltage_v":3.3,"current_ma":120.5,"power_mw":397.6}`),
		}
	}
	return rs
}
