package alerts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// An energy rule compares the running total of the current hour, from the
// roll-ups: it opens once the total crosses, stays open through a silent
// start of the next hour, and resolves once the device has sent in it.
func TestEnergyRuleFollowsTheHoursTotal(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, ss []store.Store) {
		s, ctx := ss[0], context.Background()
		clk := newClock(t0) // 12:00
		if _, err := s.CreateDevice(ctx, "plug-1", t0); err != nil {
			t.Fatal(err)
		}
		rule, err := s.CreateAlertRule(ctx, thermowatt.AlertRule{Metric: thermowatt.MetricEnergyWhPerHour, Comparison: ">",
			Threshold: 0.4, All: true, Severity: "warning", Message: "heater left on?"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		power := func(at time.Time, mw float64) {
			t.Helper()
			if _, err := s.InsertReadings(ctx, []thermowatt.Reading{{DeviceID: "plug-1", RecordedAt: at, PowerMW: f64(mw)}}, at); err != nil {
				t.Fatal(err)
			}
		}
		valueAlerts := func() (open, all int, msg string) {
			as, err := s.ListAlerts(ctx, store.AlertQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if a.Kind == thermowatt.KindValue {
					all++
					msg = a.Message
					if a.ResolvedAt == nil {
						open++
					}
				}
			}
			return open, all, msg
		}
		ch := checker(s, clk, "")
		// 1 W from 12:00: 1/12 Wh every 5 minutes.
		for m := 0; m <= 30; m += 5 {
			at := t0.Add(time.Duration(m) * time.Minute)
			power(at, 1000)
			clk.Set(at.Add(10 * time.Second))
			check(t, ch)
			open, _, msg := valueAlerts()
			if want := m >= 25; (open == 1) != want { // 0.417 Wh at 12:25
				t.Fatalf("at 12:%02d: %d open value alerts, want open %v", m, open, want)
			}
			if open == 1 && !strings.Contains(msg, "plug-1: energy_wh_per_hour 0.4167 Wh > 0.4 Wh (the hour from 2026-11-20T12:00:00Z); warning, rule #1: heater left on?") {
				t.Fatalf("the alert's text: %q", msg)
			}
		}
		// Silent into the next hour: the total of 13:00 is unknown, not 0.
		clk.Set(t0.Add(70 * time.Minute))
		check(t, ch)
		if open, _, _ := valueAlerts(); open != 1 {
			t.Fatalf("silent at 13:10: %d open, want the alert still open", open)
		}
		power(t0.Add(80*time.Minute), 1000)
		power(t0.Add(85*time.Minute), 1000)
		clk.Set(t0.Add(86 * time.Minute))
		check(t, ch)
		if open, all, _ := valueAlerts(); open != 0 || all != 1 {
			t.Fatalf("sending again at 13:25 (0.08 Wh this hour): %d open of %d, want the one alert resolved", open, all)
		}
		sts, err := s.RuleStates(ctx, "plug-1")
		if err != nil || len(sts) != 1 || sts[0].RuleID != rule.ID || sts[0].Firing {
			t.Fatalf("rule states: %+v %v", sts, err)
		}
	})
}
