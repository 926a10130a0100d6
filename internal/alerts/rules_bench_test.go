package alerts_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// BenchmarkCheckWithRules is one alert check of a fleet of 200 devices
// under three rules (two on the whole fleet, one on an energy total), each
// device having sent one new reading since the previous check, beside the
// same check without rules: what the rules add to serve's ticker.
func BenchmarkCheckWithRules(b *testing.B) {
	for _, be := range testdb.Backends(b) {
		for _, withRules := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/rules=%v", be.Name, withRules), func(b *testing.B) { benchCheck(b, be, withRules) })
		}
	}
}

func benchCheck(b *testing.B, be testdb.Backend, withRules bool) {
	{
		{
			s, ctx := be.Open(b), context.Background()
			const devices = 200
			clk := newClock(t0)
			for _, r := range []thermowatt.AlertRule{
				{Metric: thermowatt.MetricTemperature, Comparison: ">", Threshold: 30, For: 10 * time.Minute, Hysteresis: 1, All: true, Severity: "warning"},
				{Metric: thermowatt.MetricVoltageV, Comparison: "<", Threshold: 4.7, For: 5 * time.Minute, All: true, Severity: "critical"},
				{Metric: thermowatt.MetricEnergyWhPerDay, Comparison: ">", Threshold: 50, All: true, Severity: "info"},
			} {
				if !withRules {
					break
				}
				if _, err := s.CreateAlertRule(ctx, r, t0); err != nil {
					b.Fatal(err)
				}
			}
			send := func(i int) {
				at := clk.Now()
				rs := make([]thermowatt.Reading, devices)
				for d := range rs {
					v := 20 + float64((i+d)%20)
					rs[d] = thermowatt.Reading{DeviceID: fmt.Sprintf("d%03d", d), RecordedAt: at, Temperature: &v, VoltageV: f64(4.9), PowerMW: f64(500)}
				}
				if _, err := s.InsertReadings(ctx, rs, at); err != nil {
					b.Fatal(err)
				}
			}
			ch := checker(s, clk, "")
			send(0)
			if _, err := ch.Check(ctx); err != nil { // the first states
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				clk.Add(time.Minute)
				send(i + 1)
				b.StartTimer()
				if _, err := ch.Check(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/devices, "µs/device")
		}
	}
}
