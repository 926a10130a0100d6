package alerts

import (
	"fmt"
	"math"
	"time"

	"github.com/thermowatt/thermowatt"
)

// valueMessage is the text of a value alert, kept with it: which device,
// the value that completed the hold and the rule it crossed, since when,
// and the rule's own message. "esp32-7: temperature -8.5 °C > -10 °C for
// 10m0s (since 2026-11-20T10:02:00Z, reading of 2026-11-20T10:12:00Z);
// critical, rule #3: freezer door open?"
func valueMessage(deviceID string, r thermowatt.AlertRule, v float64, since, at time.Time) string {
	msg := fmt.Sprintf("%s: %s %s %s %s %s", deviceID, r.Metric, thermowatt.FormatValue(v), thermowatt.MetricUnit(r.Metric),
		r.Comparison, thermowatt.FormatValue(r.Threshold)+" "+thermowatt.MetricUnit(r.Metric))
	if r.For > 0 {
		msg += fmt.Sprintf(" for %s (since %s, reading of %s)", r.For, since.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	} else {
		msg += fmt.Sprintf(" (reading of %s)", at.UTC().Format(time.RFC3339))
	}
	return withRule(msg, r)
}

// rateMessage is the text of a rate rule's alert: how much the value
// changed and over what span (from the baseline reading to the one that
// completed the hold), and the rule. "esp32-7: temperature rose 2.4 °C in
// 5m (rate > 2 °C over 5m for 1m0s, since 2026-11-20T10:02:00Z, reading
// of 2026-11-20T10:03:00Z); critical, rule #3: freezer door open?"
func rateMessage(deviceID string, r thermowatt.AlertRule, change float64, base, since, at time.Time) string {
	verb := "rose"
	if change < 0 {
		verb = "fell"
	}
	unit := thermowatt.MetricUnit(r.Metric)
	msg := fmt.Sprintf("%s: %s %s %s %s in %s (rate %s %s %s over %s", deviceID, r.Metric, verb,
		thermowatt.FormatValue(math.Abs(change)), unit, thermowatt.FormatDuration(at.Sub(base).Round(time.Second)),
		r.Comparison, thermowatt.FormatValue(r.Threshold), unit, thermowatt.FormatDuration(r.RateOver))
	if r.For > 0 {
		msg += fmt.Sprintf(" for %s, since %s", r.For, since.UTC().Format(time.RFC3339))
	}
	msg += fmt.Sprintf(", reading of %s)", at.UTC().Format(time.RFC3339))
	return withRule(msg, r)
}

// energyMessage is the text of an energy rule's alert.
func energyMessage(deviceID string, r thermowatt.AlertRule, wh float64, start time.Time) string {
	period := "hour"
	if r.Metric == thermowatt.MetricEnergyWhPerDay {
		period = "day"
	}
	msg := fmt.Sprintf("%s: %s %s Wh %s %s Wh (the %s from %s)", deviceID, r.Metric, thermowatt.FormatValue(wh),
		r.Comparison, thermowatt.FormatValue(r.Threshold), period, start.UTC().Format(time.RFC3339))
	return withRule(msg, r)
}

func withRule(msg string, r thermowatt.AlertRule) string {
	msg += fmt.Sprintf("; %s, rule #%d", r.Severity, r.ID)
	if r.Message != "" {
		msg += ": " + r.Message
	}
	return msg
}
