package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// readingsPerCheck bounds the readings one check reads of one device: the
// newest this many since the last evaluation. More arrive only in a flush
// of a device's queue, which is late anyway (LateAfter).
const readingsPerCheck = 1000

// clockAhead is how far in the future of the checker's clock a reading may
// be recorded and still be judged now; one further ahead waits until its
// time comes, so that a device with a fast clock cannot push the rule's
// evaluation past readings still to come.
const clockAhead = time.Minute

// firstLook is how far back the first evaluation of a rule for a device
// reads, beyond the rule's hold duration (never before the rule existed).
const firstLook = time.Hour

// ruleCheck is one check's view of the alert rules: the rules, every
// (rule, device) state as read at its start (one query), and the progress
// to save at its end (one transaction).
type ruleCheck struct {
	rules    []thermowatt.AlertRule
	states   map[string]map[int64]thermowatt.RuleState // by device, then rule
	progress []thermowatt.RuleState
}

// loadRules reads the rules and their states for one check.
func (c *Checker) loadRules(ctx context.Context) (*ruleCheck, error) {
	rules, err := c.Store.ListAlertRules(ctx)
	if err != nil || len(rules) == 0 {
		return &ruleCheck{}, err
	}
	sts, err := c.Store.RuleStates(ctx, "")
	if err != nil {
		return nil, err
	}
	rc := &ruleCheck{rules: rules, states: map[string]map[int64]thermowatt.RuleState{}}
	for _, st := range sts {
		if rc.states[st.DeviceID] == nil {
			rc.states[st.DeviceID] = map[int64]thermowatt.RuleState{}
		}
		rc.states[st.DeviceID][st.RuleID] = st
	}
	return rc, nil
}

// saveProgress saves what the check judged without a transition. A state
// another checker moved meanwhile is skipped: it judged the same.
func (c *Checker) saveProgress(ctx context.Context, rc *ruleCheck) error {
	return c.Store.SaveRuleStates(ctx, rc.progress)
}

// checkRules evaluates the alert rules that watch d on what it sent since
// their last evaluation, and opens and resolves their alerts. A state that
// causes a transition is saved with it at once, in one transaction over
// the version read: a checker that lost that race stops for the rule (the
// winner did the same work). Other progress waits for the check's end.
func (c *Checker) checkRules(ctx context.Context, d thermowatt.Device, rc *ruleCheck, now time.Time, rep *Report) error {
	var mine []thermowatt.AlertRule
	for _, r := range rc.rules {
		if r.Applies(d.ID) {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	states := map[int64]thermowatt.RuleState{}
	for id, st := range rc.states[d.ID] {
		states[id] = st
	}
	var err error
	// The readings of every reading rule are read once, from the earliest
	// point any of them stands at; a rate rule's window (and the margin its
	// baseline may lie beyond it) before that, in a second bounded read.
	var from, baseFrom time.Time
	needReadings, needBase := false, false
	for _, r := range mine {
		st, ok := states[r.ID]
		if !ok {
			st = thermowatt.RuleState{RuleID: r.ID, DeviceID: d.ID, Through: r.CreatedAt}
			if look := now.Add(-r.For - firstLook); look.After(st.Through) {
				st.Through = look
			}
			states[r.ID] = st
		}
		if thermowatt.IsEnergyMetric(r.Metric) {
			continue
		}
		if !needReadings || st.Through.Before(from) {
			from, needReadings = st.Through, true
		}
		if r.IsRate() {
			if start := st.Through.Add(-r.RateOver - rateGap(d, r)); !needBase || start.Before(baseFrom) {
				baseFrom, needBase = start, true
			}
		}
	}
	var readings []thermowatt.Stored
	if needReadings {
		readings, err = c.Store.QueryReadings(ctx, store.Query{DeviceID: d.ID, From: from.Add(thermowatt.Precision),
			To: now.Add(clockAhead), Limit: readingsPerCheck})
		if err != nil {
			return err
		}
		// The newest before the new ones: the baselines of the first. When
		// the new ones were cut at the limit, readings are missing between
		// the two, where the true baseline of the first may lie: then the
		// new ones are their own baselines (the first few have none).
		if needBase && baseFrom.Before(from) && len(readings) < readingsPerCheck {
			base, err := c.Store.QueryReadings(ctx, store.Query{DeviceID: d.ID, From: baseFrom.Add(thermowatt.Precision),
				To: from.Add(thermowatt.Precision), Limit: readingsPerCheck})
			if err != nil {
				return err
			}
			readings = append(readings, base...)
		}
		slices.Reverse(readings) // oldest first
	}
	var errs []error
	for _, r := range mine {
		st := states[r.ID]
		st.RuleUpdatedAt = r.UpdatedAt
		if thermowatt.IsEnergyMetric(r.Metric) {
			err = c.evaluateEnergy(ctx, d, r, st, now, rc, rep)
		} else {
			err = c.evaluateReadings(ctx, d, r, st, readings, now, rc, rep)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("alert rule %d: %w", r.ID, err))
		}
	}
	return errors.Join(errs...)
}

// evaluateReadings steps st through the readings recorded after it, in
// order, skipping late ones.
func (c *Checker) evaluateReadings(ctx context.Context, d thermowatt.Device, r thermowatt.AlertRule, st thermowatt.RuleState,
	readings []thermowatt.Stored, now time.Time, rc *ruleCheck, rep *Report) error {
	changed := st.Version == 0
	late := LateAfter(d)
	for i, rd := range readings {
		if !rd.RecordedAt.After(st.Through) {
			continue
		}
		st.Through, changed = rd.RecordedAt, true
		if !r.IncludeLate && rd.ReceivedAt.Sub(rd.RecordedAt) > late {
			continue
		}
		v, ok := metricValue(r.Metric, rd)
		var base thermowatt.Stored
		if ok && r.IsRate() {
			base, ok = rateBase(d, r, readings, i)
			if ok {
				b, _ := metricValue(r.Metric, base)
				v -= b
			}
		}
		if !ok {
			continue
		}
		since := st.PendingSince
		opened, resolved := step(r, &st, v, rd.RecordedAt)
		if !opened && !resolved {
			continue
		}
		if since == nil {
			since = &rd.RecordedAt
		}
		msg := valueMessage(d.ID, r, v, *since, rd.RecordedAt)
		if r.IsRate() {
			msg = rateMessage(d.ID, r, v, base.RecordedAt, *since, rd.RecordedAt)
		}
		t := store.RuleTransition{Open: opened, Resolve: resolved, At: now, Message: msg}
		won, err := c.save(ctx, &st, t, rep)
		if err != nil || !won {
			return err
		}
		changed = false
	}
	if changed {
		st.Version++
		rc.progress = append(rc.progress, st)
	}
	return nil
}

// rateGap is how far before a rate rule's window its baseline reading may
// lie: the rule's window again, or two of the device's intervals if that
// is longer. A device silent for longer than that has no baseline, and
// its change is not judged: a change over hours is not a rate over 5m.
func rateGap(d thermowatt.Device, r thermowatt.AlertRule) time.Duration {
	return max(r.RateOver, 2*time.Duration(d.ExpectedIntervalS)*time.Second)
}

// rateBase is the baseline of a rate rule for readings[i] (readings oldest
// first): the newest reading recorded at or before readings[i]'s time
// minus the window that carries the metric, at most rateGap before it.
// ok is false when there is none.
func rateBase(d thermowatt.Device, r thermowatt.AlertRule, readings []thermowatt.Stored, i int) (thermowatt.Stored, bool) {
	at := readings[i].RecordedAt.Add(-r.RateOver)
	oldest := at.Add(-rateGap(d, r))
	// The first reading after at; the baseline is before it.
	j, _ := slices.BinarySearchFunc(readings[:i], at, func(rd thermowatt.Stored, t time.Time) int {
		if rd.RecordedAt.After(t) {
			return 1
		}
		return -1
	})
	for j--; j >= 0 && !readings[j].RecordedAt.Before(oldest); j-- {
		if _, ok := metricValue(r.Metric, readings[j]); ok {
			return readings[j], true
		}
	}
	return thermowatt.Stored{}, false
}

// evaluateEnergy compares the running total of the current hour or day
// with the rule, from the hourly roll-ups (a day is at most 24 rows). A
// period without any roll-up yet (the device has not sent in it) changes
// nothing: silence resolves nothing.
func (c *Checker) evaluateEnergy(ctx context.Context, d thermowatt.Device, r thermowatt.AlertRule, st thermowatt.RuleState,
	now time.Time, rc *ruleCheck, rep *Report) error {
	start := energyPeriod(r.Metric, now)
	hours, err := c.Store.EnergyHours(ctx, d.ID, start, now.UTC().Truncate(time.Hour).Add(time.Hour))
	if err != nil {
		return err
	}
	changed := st.Version == 0
	st.Through = now
	if len(hours) > 0 {
		var wh float64
		for _, h := range hours {
			wh += h.Wh
		}
		if st.LastValue == nil || *st.LastValue != wh {
			changed = true
		}
		opened, resolved := step(r, &st, wh, now)
		if opened || resolved {
			_, err := c.save(ctx, &st, store.RuleTransition{Open: opened, Resolve: resolved, At: now,
				Message: energyMessage(d.ID, r, wh, start)}, rep)
			return err
		}
	}
	if changed {
		st.Version++
		rc.progress = append(rc.progress, st)
	}
	return nil
}

// save writes st (as the next version) with its transition, at once, and
// reports it; won is false when another checker saved this state first.
func (c *Checker) save(ctx context.Context, st *thermowatt.RuleState, t store.RuleTransition, rep *Report) (won bool, err error) {
	st.Version++
	won, err = c.Store.SaveRuleState(ctx, *st, t)
	if err != nil || !won {
		return false, err
	}
	what := st.DeviceID + "/" + thermowatt.KindValue + "#" + strconv.FormatInt(st.RuleID, 10)
	switch {
	case t.Open:
		rep.Opened = append(rep.Opened, what)
		c.log().Warn("alert opened", "device", st.DeviceID, "kind", thermowatt.KindValue, "rule", st.RuleID, "message", t.Message)
	case t.Resolve:
		rep.Resolved = append(rep.Resolved, what)
		c.log().Info("alert resolved", "device", st.DeviceID, "kind", thermowatt.KindValue, "rule", st.RuleID)
	}
	return true, nil
}
