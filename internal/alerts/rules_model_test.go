package alerts_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// ruleModel is what a value rule should do for one device, written out
// plainly from the rule's definition (docs/operations.md, Alert rules):
// readings judged in recordedAt order, once, when recorded after the last
// one judged and received within ten minutes of their recordedAt (the
// devices here send every 5 min: LateAfter); fire after holding For,
// resolve after clearing (beyond threshold ∓ hysteresis) for For. A rule
// with IncludeLate judges the late readings too. A rate rule judges, in
// place of a reading's value, its change since the device's stored reading
// at or just before its recordedAt minus the window, when that one is no
// more than max(window, 10 min) older still (two of the 5 min intervals).
type ruleModel struct {
	rule    thermowatt.AlertRule
	device  string
	through time.Time
	started bool
	pending *time.Time // firing since, before the alert opened
	clear   *time.Time // clearing since, while it is open
	firing  bool
	events  []string // "opened@check" / "resolved@check"
}

type modelReading struct {
	rec, recv time.Time
	v         float64
}

func (m *ruleModel) check(now time.Time, idx int, rs map[time.Time]modelReading) {
	if !m.started {
		m.through, m.started = m.rule.CreatedAt, true
		if look := now.Add(-m.rule.For - time.Hour); look.After(m.through) {
			m.through = look
		}
	}
	var todo []modelReading
	for _, rd := range rs {
		if rd.rec.After(m.through) && !rd.rec.After(now.Add(time.Minute)) {
			todo = append(todo, rd)
		}
	}
	slices.SortFunc(todo, func(a, b modelReading) int { return a.rec.Compare(b.rec) })
	th, h := m.rule.Threshold, m.rule.Hysteresis
	for _, rd := range todo {
		m.through = rd.rec
		if !m.rule.IncludeLate && rd.recv.Sub(rd.rec) > 10*time.Minute {
			continue // late: tells of the past
		}
		v := rd.v
		if w := m.rule.RateOver; w > 0 {
			base, ok := modelBase(rs, rd.rec.Add(-w), max(w, 10*time.Minute))
			if !ok {
				continue // no reading to measure the change from
			}
			v -= base.v
		}
		var fires, clears bool
		switch m.rule.Comparison {
		case ">":
			fires, clears = v > th, v <= th-h
		case ">=":
			fires, clears = v >= th, v < th-h
		case "<":
			fires, clears = v < th, v >= th+h
		case "<=":
			fires, clears = v <= th, v > th+h
		}
		at := rd.rec
		if !m.firing {
			m.clear = nil
			if !fires {
				m.pending = nil
				continue
			}
			if m.pending == nil {
				m.pending = &at
			}
			if at.Sub(*m.pending) >= m.rule.For {
				m.firing, m.pending = true, nil
				m.events = append(m.events, fmt.Sprintf("opened@%d", idx))
			}
			continue
		}
		m.pending = nil
		if !clears {
			m.clear = nil
			continue
		}
		if m.clear == nil {
			m.clear = &at
		}
		if at.Sub(*m.clear) >= m.rule.For {
			m.firing, m.clear = false, nil
			m.events = append(m.events, fmt.Sprintf("resolved@%d", idx))
		}
	}
}

// modelBase is the newest stored reading recorded at or before at, and no
// more than gap before it.
func modelBase(rs map[time.Time]modelReading, at time.Time, gap time.Duration) (modelReading, bool) {
	var base modelReading
	found := false
	for _, rd := range rs {
		if !rd.rec.After(at) && !rd.rec.Before(at.Add(-gap)) && (!found || rd.rec.After(base.rec)) {
			base, found = rd, true
		}
	}
	return base, found
}

// TestValueRulesFollowTheirModel drives value rules through random
// readings (crossings, holds, values hovering within the hysteresis,
// silences, late and backfilled readings, duplicates) with one or two
// checkers at a time, and compares every alert transition the store
// recorded with the model's, check by check. Two of the rules are rate
// rules (the change over 5 or 10 minutes), judged beside the value rules
// on the same readings.
func TestValueRulesFollowTheirModel(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			eachBackend(t, 2, func(t *testing.T, ss []store.Store) { runRuleModel(t, ss, seed) })
		})
	}
}

func runRuleModel(t *testing.T, ss []store.Store, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 24))
	clk := newClock(t0)
	devices := []string{"d1", "d2"}
	for _, d := range devices {
		if _, err := ss[0].CreateDevice(ctx, d, t0); err != nil {
			t.Fatal(err)
		}
	}
	holds := []time.Duration{0, 3 * time.Minute, 10 * time.Minute}
	hysts := []float64{0, 1}
	specs := []thermowatt.AlertRule{
		{Metric: thermowatt.MetricTemperature, Comparison: ">", Threshold: 5, Devices: []string{"d1"}, Severity: "critical"},
		{Metric: thermowatt.MetricTemperature, Comparison: "<=", Threshold: 0, All: true, Severity: "warning"},
		{Metric: thermowatt.MetricTemperature, Comparison: ">=", Threshold: 5, All: true, Severity: "info"},
		// Rising faster than 2 °C in 5 min, falling by 1.5 °C or more in 10.
		{Metric: thermowatt.MetricTemperature, Comparison: ">", Threshold: 2, RateOver: 5 * time.Minute, All: true, Severity: "warning"},
		{Metric: thermowatt.MetricTemperature, Comparison: "<=", Threshold: -1.5, RateOver: 10 * time.Minute, Devices: []string{"d2"}, Severity: "info"},
	}
	var models []*ruleModel
	var made []string
	for i, spec := range specs {
		spec.For, spec.Hysteresis = holds[rng.IntN(len(holds))], hysts[rng.IntN(len(hysts))]
		spec.IncludeLate = i == 2 || i == 4 // the others pass late readings over
		if p := spec.Validate(); p != nil {
			t.Fatalf("rule %+v: %v", spec, p)
		}
		r, err := ss[0].CreateAlertRule(ctx, spec, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, fmt.Sprintf("#%d %s hysteresis %g late %v", r.ID, r.Condition(), r.Hysteresis, r.IncludeLate))
		for _, d := range devices {
			if r.Applies(d) {
				models = append(models, &ruleModel{rule: r, device: d})
			}
		}
	}
	t.Logf("rules: %s", strings.Join(made, "; "))

	stored := map[string]map[time.Time]modelReading{"d1": {}, "d2": {}}
	level := map[string]float64{"d1": 2, "d2": 2}
	insert := func(d string, rec time.Time, v float64) {
		rec = rec.Truncate(time.Microsecond)
		now := clk.Now()
		if _, ok := stored[d][rec]; !ok { // a duplicate keeps the first
			stored[d][rec] = modelReading{rec: rec, recv: now, v: v}
		}
		if _, err := ss[rng.IntN(2)].InsertReadings(ctx, []thermowatt.Reading{{DeviceID: d, RecordedAt: rec, Temperature: f64(v)}}, now); err != nil {
			t.Fatal(err)
		}
	}
	outage := map[string]int{}            // steps left
	queued := map[string][]modelReading{} // measured during the outage
	checkAt := map[time.Time]int{}
	checks := 0
	for range 200 {
		clk.Add(time.Duration(30+rng.IntN(150)) * time.Second)
		for _, d := range devices {
			// The level the device measures: above, around or below the
			// thresholds (5 and 0), changing now and then.
			if rng.IntN(6) == 0 {
				level[d] = []float64{8, 5, 4.5, 2, 0, -0.5, -3}[rng.IntN(7)]
			}
			v := level[d] + (rng.Float64()-0.5)*1.2
			if outage[d] > 0 { // measuring into its queue, unable to send
				queued[d] = append(queued[d], modelReading{rec: clk.Now(), v: v})
				if outage[d]--; outage[d] == 0 { // back: the queue flushes
					for _, q := range queued[d] {
						insert(d, q.rec, q.v)
					}
					queued[d] = nil
				}
				continue
			}
			switch k := rng.IntN(30); {
			case k < 18: // a live reading
				insert(d, clk.Now().Add(-time.Duration(rng.IntN(20))*time.Second), v)
			case k < 20: // an outage of a few minutes to an hour
				outage[d] = 2 + rng.IntN(25)
				queued[d] = append(queued[d], modelReading{rec: clk.Now(), v: v})
			case k < 22: // a backfill of older readings
				back := time.Duration(15+rng.IntN(120)) * time.Minute
				for i := range 1 + rng.IntN(4) {
					insert(d, clk.Now().Add(-back+time.Duration(i)*time.Minute), level[d]+3*rng.Float64()-1.5)
				}
			case k < 23: // a reading again (the device's retry)
				if recs := slices.SortedFunc(maps.Keys(stored[d]), time.Time.Compare); len(recs) > 0 {
					insert(d, recs[rng.IntN(len(recs))], v)
				}
			default: // silence
			}
		}
		if rng.IntN(3) == 0 {
			continue // readings pile up until the next check
		}
		checks++
		now := clk.Now()
		checkAt[now] = checks
		for _, m := range models {
			m.check(now, checks, stored[m.device])
		}
		n := 1 + rng.IntN(2)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := checker(ss[i], clk, "").Check(ctx); err != nil {
					t.Errorf("check %d: %v", checks, err)
				}
			}()
		}
		wg.Wait()
		compareRuleModels(t, ss[0], models, checkAt, fmt.Sprintf("after check %d", checks))
		if t.Failed() {
			return
		}
	}
	transitions := 0
	for _, m := range models {
		transitions += len(m.events)
	}
	rateTransitions := 0
	for _, m := range models {
		if m.rule.IsRate() {
			rateTransitions += len(m.events)
		}
	}
	t.Logf("%d checks, %d transitions, %d of rate rules", checks, transitions, rateTransitions)
	if rateTransitions < 2 {
		t.Errorf("only %d transitions of rate rules in %d checks: the sequence does not exercise them", rateTransitions, checks)
	}
	if transitions < 4 {
		t.Errorf("only %d transitions in %d checks: the sequence does not exercise the rules", transitions, checks)
	}
}

func compareRuleModels(t *testing.T, s store.Store, models []*ruleModel, checkAt map[time.Time]int, when string) {
	t.Helper()
	as, err := s.ListAlerts(context.Background(), store.AlertQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(as) // oldest first
	for _, m := range models {
		var got []string
		tag := fmt.Sprintf("rule #%d", m.rule.ID)
		for _, a := range as {
			if a.Kind != thermowatt.KindValue || a.DeviceID != m.device || !strings.Contains(a.Message, tag) {
				continue
			}
			got = append(got, fmt.Sprintf("opened@%d", checkAt[a.OpenedAt]))
			if a.ResolvedAt != nil {
				got = append(got, fmt.Sprintf("resolved@%d", checkAt[*a.ResolvedAt]))
			}
		}
		if !slices.Equal(got, m.events) {
			t.Errorf("%s: rule %d (%s) on %s: store has %v, model %v", when, m.rule.ID, m.rule.Condition(), m.device, got, m.events)
		}
	}
}
