package thermowatt

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestQuantitiesAreEachDescribed(t *testing.T) {
	places := map[int]Quantity{}
	names := map[string]Quantity{}
	for _, q := range Quantities {
		if q.Name() == "" || q.Source() == "" || q.Unit() == "" || q.Label() == "" || q.Color() == "" {
			t.Errorf("quantity %d is not fully described: %+v", q, quantities[q])
		}
		if other, dup := places[q.Place()]; dup {
			t.Errorf("%s and %s share place %d on the dashboard", q, other, q.Place())
		}
		places[q.Place()] = q
		if other, dup := names[q.Name()]; dup {
			t.Errorf("%s and quantity %d share a name", q, other)
		}
		names[q.Name()] = q
		if got, ok := QuantityNamed(q.Name()); !ok || got != q {
			t.Errorf("QuantityNamed(%q) = %v, %v; want %d", q.Name(), got, ok, q)
		}
	}
	if _, ok := QuantityNamed("energy_wh_per_day"); ok {
		t.Error("QuantityNamed found energy, which is not a reading's quantity")
	}
}

// The alert rules' metric constants name quantities, and AlertMetrics is
// every quantity then the energy totals.
func TestAlertMetricsAreTheQuantities(t *testing.T) {
	for _, m := range []string{MetricTemperature, MetricHumidity, MetricVoltageV, MetricCurrentMA, MetricPowerMW, MetricPressureHPa} {
		q, ok := QuantityNamed(m)
		if !ok {
			t.Errorf("alert metric %q is no quantity", m)
			continue
		}
		if MetricUnit(m) != q.Unit() {
			t.Errorf("MetricUnit(%q) = %q, want %q", m, MetricUnit(m), q.Unit())
		}
	}
	want := []string{"temperature", "humidity", "voltage_v", "current_ma", "power_mw", "pressure_hpa", "energy_wh_per_hour", "energy_wh_per_day"}
	if !slices.Equal(AlertMetrics, want) {
		t.Errorf("AlertMetrics = %v, want %v", AlertMetrics, want)
	}
	if MetricUnit(MetricEnergyWhPerDay) != "Wh" || MetricUnit("nonsense") != "" {
		t.Error("MetricUnit of energy is not Wh, or of an unknown metric not empty")
	}
}

func TestReadingFieldsReadAndWriteTheReading(t *testing.T) {
	if len(ReadingFields) != NumQuantities-1 || slices.Contains(ReadingFields, PressureHPa) {
		t.Fatalf("ReadingFields = %v, want every quantity but pressure", ReadingFields)
	}
	var r Reading
	for i, q := range ReadingFields {
		v := float64(i) + 0.5
		*q.Field(&r) = &v
	}
	want := Reading{Temperature: f(0.5), Humidity: f(1.5), VoltageV: f(2.5), CurrentMA: f(3.5), PowerMW: f(4.5)}
	for _, q := range ReadingFields {
		if got, w := q.Of(&r), q.Of(&want); got == nil || *got != *w {
			t.Errorf("%s: wrote through Field, read %v, want %v", q, got, *w)
		}
	}
	if PressureHPa.Field(&r) != nil {
		t.Error("pressure has a field in Reading")
	}
}

// Pressure is payload.sensor.bmp280.pressure_hpa when that is a number, as
// the stores read it.
func TestPressureIsReadFromThePayload(t *testing.T) {
	for _, c := range []struct {
		payload string
		want    *float64
	}{
		{`{"sensor":{"bmp280":{"temperature_c":20.5,"pressure_hpa":1013.25}}}`, f(1013.25)},
		{`{"sensor":{"bmp280":{"pressure_hpa":-0.5e1}},"device":{"fw":"1.2"}}`, f(-5)},
		{`{"sensor":{"bmp280":{"pressure_hpa":"1013"}}}`, nil},
		{`{"sensor":{"bmp280":{"pressure_hpa":null}}}`, nil},
		{`{"sensor":{"bmp280":{"pressure_hpa":1e400}}}`, nil},
		{`{"voltage_v":5.02}`, nil},
		{``, nil},
	} {
		r := Reading{Payload: json.RawMessage(c.payload)}
		got := PressureHPa.Of(&r)
		if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("pressure of %s = %v, want %v", c.payload, got, c.want)
		}
	}
}

func f(v float64) *float64 { return &v }
