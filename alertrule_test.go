package thermowatt

import (
	"strings"
	"testing"
	"time"
)

// A rule that cannot work is refused, and the message says what to
// change, naming the field.
func TestAlertRuleValidation(t *testing.T) {
	ok := AlertRule{Metric: MetricTemperature, Comparison: ">", Threshold: -10, For: 10 * time.Minute, Hysteresis: 1,
		Devices: []string{"freezer-1"}, Severity: "critical"}
	if p := ok.Validate(); p != nil {
		t.Fatalf("a valid rule refused: %v", p)
	}
	cases := []struct {
		name        string
		change      func(r *AlertRule)
		field, want string
	}{
		{"unknown metric", func(r *AlertRule) { r.Metric = "temp" }, "metric", `unknown metric "temp": use one of temperature, humidity`},
		{"unknown comparison", func(r *AlertRule) { r.Comparison = "==" }, "comparison", "use one of > >= < <="},
		{"negative hold", func(r *AlertRule) { r.For = -time.Minute }, "for", "is negative"},
		{"hold over a day", func(r *AlertRule) { r.For = 25 * time.Hour }, "for", "longer than 24h0m0s"},
		{"hold in fractions of a second", func(r *AlertRule) { r.For = 1500 * time.Millisecond }, "for", "whole seconds"},
		{"negative hysteresis", func(r *AlertRule) { r.Hysteresis = -1 }, "hysteresis", "below the threshold"},
		{"negative hysteresis on <", func(r *AlertRule) { r.Comparison, r.Hysteresis = "<", -1 }, "hysteresis", "above the threshold"},
		{"energy with <", func(r *AlertRule) { r.Metric, r.Comparison, r.For = MetricEnergyWhPerDay, "<", 0 }, "comparison", "running total"},
		{"energy with a hold", func(r *AlertRule) { r.Metric = MetricEnergyWhPerHour }, "for", "does not apply"},
		{"devices and all", func(r *AlertRule) { r.All = true }, "devices", "not both or neither"},
		{"neither devices nor all", func(r *AlertRule) { r.Devices = nil }, "devices", "not both or neither"},
		{"a bad device id", func(r *AlertRule) { r.Devices = []string{"bad id"} }, "devices", `device id "bad id"`},
		{"unknown severity", func(r *AlertRule) { r.Severity = "urgent" }, "severity", "info, warning, critical"},
		{"rate of an energy total", func(r *AlertRule) { r.Metric, r.For, r.RateOver = MetricEnergyWhPerDay, 0, 5*time.Minute }, "rateOver", "a rate of it is not watched"},
		{"negative rate window", func(r *AlertRule) { r.RateOver = -time.Minute }, "rateOver", "is negative"},
		{"rate window in fractions of a second", func(r *AlertRule) { r.RateOver = 1500 * time.Millisecond }, "rateOver", "whole seconds"},
		{"rate window over an hour", func(r *AlertRule) { r.RateOver = 2 * time.Hour }, "rateOver", "longer than 1h"},
	}
	for _, c := range cases {
		r := ok
		r.Devices = append([]string(nil), ok.Devices...)
		c.change(&r)
		p := r.Validate()
		if !strings.Contains(p[c.field], c.want) {
			t.Errorf("%s: problems %v, want %s to say %q", c.name, p, c.field, c.want)
		}
	}
}

// Hysteresis is on the safe side of the threshold: a value between the
// two neither fires nor clears.
func TestAlertRuleFiresAndClears(t *testing.T) {
	above := AlertRule{Comparison: ">", Threshold: 5, Hysteresis: 1}
	below := AlertRule{Comparison: "<=", Threshold: 0, Hysteresis: 0.5}
	for _, c := range []struct {
		r             AlertRule
		v             float64
		fires, clears bool
	}{
		{above, 6, true, false}, {above, 5, false, false}, {above, 4.5, false, false}, {above, 4, false, true},
		{below, 0, true, false}, {below, 0.3, false, false}, {below, 0.5, false, false}, {below, 0.6, false, true}, {below, -1, true, false},
	} {
		if c.r.Fires(c.v) != c.fires || c.r.Clears(c.v) != c.clears {
			t.Errorf("%s %g hysteresis %g at %g: fires %v clears %v, want %v %v", c.r.Comparison, c.r.Threshold, c.r.Hysteresis, c.v,
				c.r.Fires(c.v), c.r.Clears(c.v), c.fires, c.clears)
		}
	}
}

// A rate rule reads as one: its window in the condition, without zero
// parts.
func TestAlertRuleRateCondition(t *testing.T) {
	r := AlertRule{Metric: MetricTemperature, Comparison: ">", Threshold: 2, RateOver: 5 * time.Minute, All: true, Severity: "info"}
	if p := r.Validate(); p != nil {
		t.Fatalf("a valid rate rule refused: %v", p)
	}
	if got := r.Condition(); got != "temperature rate > 2 °C over 5m" {
		t.Errorf("Condition: %q", got)
	}
	for d, want := range map[time.Duration]string{90 * time.Second: "1m30s", time.Hour: "1h", 90 * time.Minute: "1h30m", 30 * time.Second: "30s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
