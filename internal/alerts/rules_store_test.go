package alerts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The store's side of alert rules, on every backend: rules round-trip;
// a state is saved only over the version it was read at, and its alert
// transition only with it; changing or deleting a rule resolves its open
// alerts and drops its state.
func TestAlertRuleStore(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, ss []store.Store) {
		s, other, ctx := ss[0], ss[1], context.Background()
		if _, err := s.CreateDevice(ctx, "d1", t0); err != nil {
			t.Fatal(err)
		}
		in := thermowatt.AlertRule{Metric: thermowatt.MetricVoltageV, Comparison: "<", Threshold: 4.7, For: 5 * time.Minute,
			Hysteresis: 0.1, Devices: []string{"d1", "d2"}, Severity: "critical", Message: "supply sagging", IncludeLate: true}
		r, err := s.CreateAlertRule(ctx, in, t0)
		if err != nil {
			t.Fatal(err)
		}
		fleet, err := s.CreateAlertRule(ctx, thermowatt.AlertRule{Metric: thermowatt.MetricPowerMW, Comparison: ">=", Threshold: 2000,
			RateOver: 90 * time.Second, All: true, Severity: "info"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := other.GetAlertRule(ctx, r.ID)
		if err != nil || got.Metric != in.Metric || got.Threshold != 4.7 || got.For != 5*time.Minute || got.Hysteresis != 0.1 ||
			len(got.Devices) != 2 || got.All || got.Message != in.Message || !got.IncludeLate || !got.CreatedAt.Equal(t0) {
			t.Fatalf("GetAlertRule: %+v %v", got, err)
		}
		if rs, err := other.ListAlertRules(ctx); err != nil || len(rs) != 2 || !rs[1].All || rs[1].Devices != nil || rs[1].RateOver != 90*time.Second || rs[0].IsRate() {
			t.Fatalf("ListAlertRules: %+v %v", rs, err)
		}
		if _, err := s.GetAlertRule(ctx, 999); !errors.Is(err, thermowatt.ErrNotFound) {
			t.Fatalf("GetAlertRule(999): %v, want ErrNotFound", err)
		}

		st := thermowatt.RuleState{RuleID: r.ID, DeviceID: "d1", Version: 1, Through: t0, RuleUpdatedAt: r.UpdatedAt}
		for i, want := range []bool{true, false} { // two checkers write the first state
			if saved, err := ss[i].SaveRuleState(ctx, st, store.RuleTransition{}); err != nil || saved != want {
				t.Fatalf("first state, checker %d: saved %v %v, want %v", i, saved, err, want)
			}
		}
		st.Version, st.Firing = 2, true
		open := store.RuleTransition{Open: true, Message: "d1: voltage_v 4.5 V < 4.7 V", At: t0.Add(time.Minute)}
		for i, want := range []bool{true, false} { // both judged the same readings
			if saved, err := ss[i].SaveRuleState(ctx, st, open); err != nil || saved != want {
				t.Fatalf("opening state, checker %d: saved %v %v, want %v", i, saved, err, want)
			}
		}
		if as := openAlerts(t, s); len(as) != 1 || as[0].Kind != thermowatt.KindValue || as[0].Message != open.Message {
			t.Fatalf("open alerts: %+v, want the one value alert", as)
		}
		// A second rule on the same device has an alert of its own.
		fst := thermowatt.RuleState{RuleID: fleet.ID, DeviceID: "d1", Version: 1, Through: t0, Firing: true, RuleUpdatedAt: fleet.UpdatedAt}
		if saved, err := s.SaveRuleState(ctx, fst, store.RuleTransition{Open: true, Message: "d1: power", At: t0}); !saved || err != nil {
			t.Fatalf("the fleet rule's state: %v %v", saved, err)
		}
		if as := openAlerts(t, s); len(as) != 2 {
			t.Fatalf("open alerts: %+v, want one per rule", as)
		}
		sts, err := s.RuleStates(ctx, "d1")
		if err != nil || len(sts) != 2 || sts[0].Version != 2 || !sts[0].Firing || !sts[0].Through.Equal(t0) {
			t.Fatalf("RuleStates: %+v %v", sts, err)
		}
		// A check's progress in one batch: a state whose version moved is
		// skipped, the others saved.
		moved, ahead := st, fst
		moved.Version, moved.Through = 2, t0.Add(time.Hour) // version 2 is stored: 2 would need 1
		ahead.Version, ahead.Through = 2, t0.Add(time.Hour)
		if err := other.SaveRuleStates(ctx, []thermowatt.RuleState{moved, ahead}); err != nil {
			t.Fatal(err)
		}
		if sts, _ := s.RuleStates(ctx, "d1"); !sts[0].Through.Equal(t0) || sts[1].Version != 2 || !sts[1].Through.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after a batch with a stale state: %+v", sts)
		}

		// Changing the rule resolves its alert and restarts its state.
		r.Threshold, r.RateOver = 4.6, 5*time.Minute
		if _, err := s.UpdateAlertRule(ctx, r, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, err := other.GetAlertRule(ctx, r.ID); err != nil || got.RateOver != 5*time.Minute {
			t.Fatalf("GetAlertRule after making it a rate rule: %+v %v", got, err)
		}
		if as := openAlerts(t, s); len(as) != 1 || as[0].Message != "d1: power" {
			t.Fatalf("open alerts after the change: %+v, want only the fleet rule's", as)
		}
		if sts, _ := s.RuleStates(ctx, "d1"); len(sts) != 1 || sts[0].RuleID != fleet.ID {
			t.Fatalf("states after the change: %+v", sts)
		}
		st.Version = 3 // a checker that read the state before the change
		if saved, err := other.SaveRuleState(ctx, st, store.RuleTransition{Resolve: true, At: t0}); saved || err != nil {
			t.Fatalf("a stale state after the change: saved %v %v, want refused", saved, err)
		}
		st.Version = 1 // one that read the rule before the change, and no state
		if saved, err := other.SaveRuleState(ctx, st, open); saved || err != nil {
			t.Fatalf("a first state judged under the old settings: saved %v %v, want refused", saved, err)
		}
		if as := openAlerts(t, s); len(as) != 1 {
			t.Fatalf("open alerts after a refused stale opening: %+v", as)
		}

		// Deleting a rule resolves its alerts; a state for it is refused.
		if err := s.DeleteAlertRule(ctx, fleet.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if as := openAlerts(t, s); len(as) != 0 {
			t.Fatalf("open alerts after deleting the rule: %+v", as)
		}
		if err := s.DeleteAlertRule(ctx, fleet.ID, t0); !errors.Is(err, thermowatt.ErrNotFound) {
			t.Fatalf("deleting again: %v, want ErrNotFound", err)
		}
		fst.Version = 1
		if saved, err := s.SaveRuleState(ctx, fst, store.RuleTransition{}); saved || err != nil {
			t.Fatalf("a state of a deleted rule: saved %v %v, want refused", saved, err)
		}
		if _, err := s.UpdateAlertRule(ctx, fleet, t0); !errors.Is(err, thermowatt.ErrNotFound) {
			t.Fatalf("changing a deleted rule: %v, want ErrNotFound", err)
		}
	})
}
