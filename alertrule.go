package thermowatt

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// KindValue: a reading (or a period's energy) crossed an alert rule's
// threshold for the rule's hold duration. Its alerts carry the rule's id.
const KindValue = "value"

// The metrics an alert rule can watch: each quantity (the names of
// Quantities, which TestAlertMetricsAreTheQuantities holds these to), and
// the running total of energy (from the hourly roll-ups) in the current
// UTC hour or day.
const (
	MetricTemperature     = "temperature"
	MetricHumidity        = "humidity"
	MetricVoltageV        = "voltage_v"
	MetricCurrentMA       = "current_ma"
	MetricPowerMW         = "power_mw"
	MetricPressureHPa     = "pressure_hpa"
	MetricEnergyWhPerHour = "energy_wh_per_hour"
	MetricEnergyWhPerDay  = "energy_wh_per_day"
)

// AlertMetrics lists every metric a rule may name, in the order errors
// and help show them.
var AlertMetrics = func() []string {
	var ms []string
	for _, q := range Quantities {
		ms = append(ms, q.Name())
	}
	return append(ms, MetricEnergyWhPerHour, MetricEnergyWhPerDay)
}()

// MetricUnit is the unit a metric's values are in, for messages.
func MetricUnit(metric string) string {
	if q, ok := QuantityNamed(metric); ok {
		return q.Unit()
	}
	if IsEnergyMetric(metric) {
		return "Wh"
	}
	return ""
}

// IsEnergyMetric reports whether a metric is a period's running energy
// total rather than a reading's value.
func IsEnergyMetric(metric string) bool {
	return metric == MetricEnergyWhPerHour || metric == MetricEnergyWhPerDay
}

// AlertComparisons are the comparisons a rule may use.
var AlertComparisons = []string{">", ">=", "<", "<="}

// AlertSeverities are the severities a rule may have.
var AlertSeverities = []string{"info", "warning", "critical"}

// MaxAlertHold is the longest hold duration a rule may have: a condition
// held for more than a day is better watched by a daily energy rule or a
// person.
const MaxAlertHold = 24 * time.Hour

// MaxRateOver is the longest window a rate rule may have. The checker
// reads the window and a margin as long again before the new readings, at
// most a thousand of a device (internal/alerts): two hours hold that many
// for a device sending every 7.2 s. A slower change is a value rule's
// matter.
const MaxRateOver = time.Hour

// AlertRule is a threshold on what devices measure: it fires for a device
// once Metric Comparison Threshold has held For, and resolves once the
// value has been back beyond Threshold ∓ Hysteresis (on the safe side) for
// For as well.
type AlertRule struct {
	ID         int64
	Metric     string
	Comparison string
	Threshold  float64
	// RateOver, when set, makes it a rate rule: the value compared is the
	// change of Metric over this window (a reading's value minus that of
	// the device's reading at or just before its recordedAt - RateOver),
	// not the reading's value itself. "temperature rate > 2 over 5m".
	RateOver   time.Duration
	For        time.Duration
	Hysteresis float64
	// Devices is the scope: these devices, or every device when All.
	Devices  []string
	All      bool
	Severity string
	Message  string // optional, added to the notification
	// IncludeLate judges late readings too (LateAfter in internal/alerts):
	// a queue flushed after an outage then raises the alerts of the
	// outage, as transitions of now.
	IncludeLate bool
	// CreatedAt bounds the first evaluation: readings from before the
	// rule existed are not judged by it.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Applies reports whether the rule watches a device.
func (r AlertRule) Applies(deviceID string) bool {
	return r.All || slices.Contains(r.Devices, deviceID)
}

// Fires reports whether a value is on the alerting side of the threshold.
func (r AlertRule) Fires(v float64) bool {
	return compare(r.Comparison, v, r.Threshold)
}

// Clears reports whether a value is back beyond the threshold by the
// hysteresis: below Threshold-Hysteresis for > and >=, above
// Threshold+Hysteresis for < and <=. A value between the two (hovering)
// neither fires anew nor clears.
func (r AlertRule) Clears(v float64) bool {
	switch r.Comparison {
	case ">", ">=":
		return !compare(r.Comparison, v, r.Threshold-r.Hysteresis)
	default:
		return !compare(r.Comparison, v, r.Threshold+r.Hysteresis)
	}
}

func compare(op string, v, t float64) bool {
	switch op {
	case ">":
		return v > t
	case ">=":
		return v >= t
	case "<":
		return v < t
	case "<=":
		return v <= t
	}
	return false
}

// IsRate reports whether the rule watches a change over a window rather
// than a value.
func (r AlertRule) IsRate() bool { return r.RateOver > 0 }

// Condition is the rule in words: "temperature > -10 °C for 10m0s", or
// for a rate rule "temperature rate > 2 °C over 5m".
func (r AlertRule) Condition() string {
	s := fmt.Sprintf("%s %s %s %s", r.Metric, r.Comparison, FormatValue(r.Threshold), MetricUnit(r.Metric))
	if r.IsRate() {
		s = fmt.Sprintf("%s rate %s %s %s over %s", r.Metric, r.Comparison, FormatValue(r.Threshold), MetricUnit(r.Metric),
			FormatDuration(r.RateOver))
	}
	if r.For > 0 {
		s += " for " + r.For.String()
	}
	return s
}

// FormatDuration prints a whole-second duration without its zero parts:
// 5m rather than 5m0s, 1h30m rather than 1h30m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// FormatValue prints a measured value without float noise.
func FormatValue(v float64) string {
	return fmt.Sprintf("%.4g", v)
}

// Validate returns what is wrong with the rule, one message per field,
// each saying what is allowed; nil when it can be stored.
func (r AlertRule) Validate() map[string]string {
	problems := map[string]string{}
	if !slices.Contains(AlertMetrics, r.Metric) {
		problems["metric"] = fmt.Sprintf("unknown metric %q: use one of %s", r.Metric, strings.Join(AlertMetrics, ", "))
	}
	if !slices.Contains(AlertComparisons, r.Comparison) {
		problems["comparison"] = fmt.Sprintf("unknown comparison %q: use one of %s", r.Comparison, strings.Join(AlertComparisons, " "))
	} else if IsEnergyMetric(r.Metric) && (r.Comparison == "<" || r.Comparison == "<=") {
		problems["comparison"] = fmt.Sprintf("%s is a running total that only grows through its period, so %q would fire at every period's start: use > or >=", r.Metric, r.Comparison)
	}
	if math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
		problems["threshold"] = "threshold must be a finite number"
	}
	switch {
	case r.For < 0:
		problems["for"] = fmt.Sprintf("hold duration %s is negative: use 0 (fire at the first reading that crosses) or a positive duration such as 10m", r.For)
	case r.For > MaxAlertHold:
		problems["for"] = fmt.Sprintf("hold duration %s is longer than %s", r.For, MaxAlertHold)
	case r.For%time.Second != 0:
		problems["for"] = fmt.Sprintf("hold duration %s must be whole seconds", r.For)
	case IsEnergyMetric(r.Metric) && r.For != 0:
		problems["for"] = fmt.Sprintf("%s fires as soon as the period's total crosses the threshold, and resolves with the next period: a hold duration does not apply (leave it 0)", r.Metric)
	}
	switch {
	case r.RateOver == 0:
	case IsEnergyMetric(r.Metric):
		problems["rateOver"] = fmt.Sprintf("%s is a running total of its period: a rate of it is not watched; leave rateOver out, or watch %s's rate instead", r.Metric, MetricPowerMW)
	case r.RateOver < 0:
		problems["rateOver"] = fmt.Sprintf("rate window %s is negative: give the window the change is measured over, such as 5m", r.RateOver)
	case r.RateOver%time.Second != 0 || r.RateOver < time.Second:
		problems["rateOver"] = fmt.Sprintf("rate window %s must be whole seconds, at least 1s", r.RateOver)
	case r.RateOver > MaxRateOver:
		problems["rateOver"] = fmt.Sprintf("rate window %s is longer than %s: a slower change is better watched by a value rule", r.RateOver, FormatDuration(MaxRateOver))
	}
	switch {
	case math.IsNaN(r.Hysteresis) || math.IsInf(r.Hysteresis, 0):
		problems["hysteresis"] = "hysteresis must be a finite number"
	case r.Hysteresis < 0:
		side := "below"
		if r.Comparison == "<" || r.Comparison == "<=" {
			side = "above"
		}
		problems["hysteresis"] = fmt.Sprintf("hysteresis %s is negative: it is how far %s the threshold the value must come back to resolve, so give it as a positive amount", FormatValue(r.Hysteresis), side)
	}
	if r.All == (len(r.Devices) > 0) {
		problems["devices"] = `name the devices ("devices":["id",...]) or the whole fleet ("all":true), not both or neither`
	}
	for _, id := range r.Devices {
		if !ValidDeviceID(id) {
			problems["devices"] = fmt.Sprintf("device id %q must be %s", id, DeviceIDRule)
			break
		}
	}
	if len(r.Devices) > 1000 {
		problems["devices"] = fmt.Sprintf("%d devices in one rule: name at most 1000, or use the whole fleet", len(r.Devices))
	}
	if !slices.Contains(AlertSeverities, r.Severity) {
		problems["severity"] = fmt.Sprintf("unknown severity %q: use one of %s", r.Severity, strings.Join(AlertSeverities, ", "))
	}
	if len(r.Message) > 500 {
		problems["message"] = fmt.Sprintf("message is %d bytes: keep it under 500", len(r.Message))
	}
	if len(problems) == 0 {
		return nil
	}
	return problems
}

// RuleState is where a rule's evaluation of one device stands. The checker
// advances it reading by reading; Version lets the database refuse the
// write of a checker that evaluated an older state (another checker got
// there first).
type RuleState struct {
	RuleID   int64
	DeviceID string
	Version  int64
	// Through is the recordedAt of the newest reading evaluated (for an
	// energy rule: the time of the last check): the next check reads only
	// readings recorded after it.
	Through time.Time
	// PendingSince is when the value started firing without a break,
	// while the rule has not fired yet; ClearSince is when it started
	// clearing, while it has.
	PendingSince *time.Time
	ClearSince   *time.Time
	Firing       bool
	// LastValue and LastAt are the newest value judged, for the dashboard.
	LastValue *float64
	LastAt    *time.Time
	// RuleUpdatedAt is the rule's UpdatedAt as the checker read it (not
	// stored): a first state judged under settings since changed is
	// refused.
	RuleUpdatedAt time.Time
}
