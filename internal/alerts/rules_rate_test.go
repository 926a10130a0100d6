package alerts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// A rate rule measures each reading's change from the device's reading at
// or just before its recordedAt minus the window, says in the alert how far
// and over what span the value moved, and judges nothing after a gap with
// no reading within the window again before the window's start: the
// silence resolves nothing either.
func TestRateRuleBaseline(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, ss []store.Store) {
		s, ctx := ss[0], context.Background()
		clk := newClock(t0)
		if _, err := s.CreateDevice(ctx, "freezer-1", t0); err != nil { // every 5 min: baselines up to 10 min beyond
			t.Fatal(err)
		}
		r, err := s.CreateAlertRule(ctx, thermowatt.AlertRule{Metric: thermowatt.MetricTemperature, Comparison: "<", Threshold: -2,
			RateOver: 5 * time.Minute, Devices: []string{"freezer-1"}, Severity: "critical"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		valueAlerts := func() []thermowatt.Alert {
			var out []thermowatt.Alert
			for _, a := range openAlerts(t, s) {
				if a.Kind == thermowatt.KindValue {
					out = append(out, a)
				}
			}
			return out
		}
		steps := []struct {
			at   time.Duration
			temp float64
			open bool
			why  string
		}{
			{1 * time.Minute, 10, false, "no reading 5 min before: nothing to measure from"},
			{6 * time.Minute, 9, false, "-1 since 10 at +1m"},
			{12 * time.Minute, 6, true, "-3 since 9 at +6m, the reading just before +7m"},
			{40 * time.Minute, 20, true, "no reading between +25m and +35m: not judged, the alert stays open"},
			{45 * time.Minute, 20, false, "0 since 20 at +40m: resolves"},
		}
		for _, st := range steps {
			at := t0.Add(st.at)
			clk.Set(at)
			if _, err := s.InsertReadings(ctx, []thermowatt.Reading{{DeviceID: "freezer-1", RecordedAt: at, Temperature: f64(st.temp)}}, at); err != nil {
				t.Fatal(err)
			}
			if _, err := checker(s, clk, "").Check(ctx); err != nil {
				t.Fatal(err)
			}
			as := valueAlerts()
			if (len(as) == 1) != st.open {
				t.Fatalf("at +%s (%s): open value alerts %+v, want open %v", st.at, st.why, as, st.open)
			}
			if st.at == 12*time.Minute {
				want := "freezer-1: temperature fell 3 °C in 6m (rate < -2 °C over 5m, reading of 2026-11-20T12:12:00Z); critical, rule #"
				if !strings.HasPrefix(as[0].Message, want) {
					t.Fatalf("the alert's text %q, want it to start %q", as[0].Message, want)
				}
			}
		}
		sts, err := s.RuleStates(ctx, "freezer-1")
		if err != nil || len(sts) != 1 || sts[0].RuleID != r.ID || *sts[0].LastValue != 0 {
			t.Fatalf("the rule's state: %+v %v, want the last change 0", sts, err)
		}
	})
}
