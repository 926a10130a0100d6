package alerts

import (
	"time"

	"github.com/thermowatt/thermowatt"
)

// step advances a rule's state by one value observed at at, and says
// whether that opened or resolved the rule's alert. Before it fires, the
// value must fire without a break for the rule's hold duration (counted
// from the first firing value to this one); once it has, the value must
// clear (come back beyond the threshold by the hysteresis) without a
// break for the hold duration as well. A value in between, hovering
// within the hysteresis, keeps the alert open and restarts the clearing.
// Silence is no value at all: it changes nothing.
func step(r thermowatt.AlertRule, st *thermowatt.RuleState, v float64, at time.Time) (opened, resolved bool) {
	st.LastValue, st.LastAt = &v, &at
	if !st.Firing {
		st.ClearSince = nil
		if !r.Fires(v) {
			st.PendingSince = nil
			return false, false
		}
		if st.PendingSince == nil {
			st.PendingSince = &at
		}
		if at.Sub(*st.PendingSince) >= r.For {
			st.Firing, st.PendingSince = true, nil
			return true, false
		}
		return false, false
	}
	st.PendingSince = nil
	if !r.Clears(v) {
		st.ClearSince = nil
		return false, false
	}
	if st.ClearSince == nil {
		st.ClearSince = &at
	}
	if at.Sub(*st.ClearSince) >= r.For {
		st.Firing, st.ClearSince = false, nil
		return false, true
	}
	return false, false
}

// metricValue is a reading's value of a rule's metric; ok is false when
// the reading does not carry it (a temperature-only node has no power).
func metricValue(metric string, rd thermowatt.Stored) (v float64, ok bool) {
	q, known := thermowatt.QuantityNamed(metric)
	if !known {
		return 0, false
	}
	// Pressure is read where the firmware's BMP280 reports it, as the
	// charts read it (Quantity.Of).
	p := q.Of(&rd.Reading)
	if p == nil {
		return 0, false
	}
	return *p, true
}

// LateAfter is how long after its recordedAt a reading may arrive and
// still be judged by the alert rules: twice the device's interval, and
// at least ten minutes. A later one (a queue flushed after an outage, a
// backfill) tells of the past: it raises no alert for it, and resolves
// none either.
func LateAfter(d thermowatt.Device) time.Duration {
	return max(2*time.Duration(d.ExpectedIntervalS)*time.Second, 10*time.Minute)
}

// energyPeriod is the start of the UTC hour or day an energy rule totals.
func energyPeriod(metric string, now time.Time) time.Time {
	now = now.UTC()
	if metric == thermowatt.MetricEnergyWhPerHour {
		return now.Truncate(time.Hour)
	}
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}
