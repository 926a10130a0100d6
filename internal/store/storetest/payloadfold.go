package storetest

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// testPayloadComesBackAsSent: a store keeps a payload without the members
// its columns hold (store.FoldPayload), and answers with the payload as
// sent: the same members and values (PostgreSQL's jsonb has always
// rewritten a number's text: 1e21 as 1000000000000000000000), whether or not
// the columns hold the same values, and when a column holds a value the
// payload never had.
func testPayloadComesBackAsSent(t *testing.T, s store.Store) {
	f := func(v float64) *float64 { return &v }
	firmware := `{"voltage_v":4.98,"current_ma":101.25,"power_mw":504.2,"sensor":{"bmp280":{"pressure_hpa":1012.25,"temperature_c":21.5},"ina219":{"max_current_a":3.2,"shunt_ohms":0.1}},"device":{"boot":3,"firmware":"1.0.0"}}`
	cases := []struct {
		payload string
		r       thermowatt.Reading
	}{
		{firmware, thermowatt.Reading{Temperature: f(21.5), VoltageV: f(4.98), CurrentMA: f(101.25), PowerMW: f(504.2)}},
		// The columns hold other values than the payload.
		{firmware, thermowatt.Reading{Temperature: f(22), VoltageV: f(5), CurrentMA: f(100), PowerMW: f(500)}},
		// The columns hold values the payload does not have.
		{`{"sensor":{"bmp280":{}},"note":"x"}`, thermowatt.Reading{Temperature: f(21.5), VoltageV: f(4.98), PowerMW: f(1)}},
		{`{}`, thermowatt.Reading{VoltageV: f(1)}},
		// Numbers whose text a float64 does not give back.
		{`{"voltage_v":5.0,"current_ma":1e21,"power_mw":-0,"sensor":{"bmp280":{"pressure_hpa":1.0e3,"temperature_c":21.50}}}`,
			thermowatt.Reading{Temperature: f(21.5), VoltageV: f(5), CurrentMA: f(1e21), PowerMW: f(0)}},
		{`{"current_ma":1e+21,"power_mw":1e-7,"x":{"y":[1,{"z":null}]}}`, thermowatt.Reading{CurrentMA: f(1e21), PowerMW: f(1e-7)}},
		// A name the wire decoder matches case-insensitively.
		{`{"Voltage_V":4.98,"voltage_v":4.98}`, thermowatt.Reading{VoltageV: f(4.98)}},
		// The only member of its object.
		{`{"sensor":{"bmp280":{"pressure_hpa":998}}}`, thermowatt.Reading{}},
	}
	var rs []thermowatt.Reading
	for i, c := range cases {
		r := c.r
		r.DeviceID, r.RecordedAt, r.Payload = "d1", base.Add(time.Duration(i)*time.Minute), json.RawMessage(c.payload)
		rs = append(rs, r)
	}
	insert(t, s, rs, base)
	got := query(t, s, store.Query{})
	slices.Reverse(got)
	if len(got) != len(cases) {
		t.Fatalf("%d readings stored, want %d", len(got), len(cases))
	}
	for i, c := range cases {
		if !sameJSON(t, got[i].Payload, []byte(c.payload)) {
			t.Errorf("payload %d:\n got %s\nwant %s", i, got[i].Payload, c.payload)
		}
		w := c.r
		if !reflect.DeepEqual([]*float64{got[i].Temperature, got[i].VoltageV, got[i].CurrentMA, got[i].PowerMW},
			[]*float64{w.Temperature, w.VoltageV, w.CurrentMA, w.PowerMW}) {
			t.Errorf("reading %d: columns %s, want %s", i, show(got[i].Reading), show(w))
		}
	}
}

// sameJSON reports whether a and b decode to the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(p []byte) any {
		var v any
		if err := json.Unmarshal(p, &v); err != nil {
			t.Fatalf("payload %q is not JSON: %v", p, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

// testRepeatedPayloadsComeBackAsSent: a store may keep a payload that
// readings repeat once for all of them (PostgreSQL's payload_shapes); each
// reading still answers its own payload, including payloads that differ
// only in a number's text, and a repeated device report still sets the
// device's health.
func testRepeatedPayloadsComeBackAsSent(t *testing.T, s store.Store) {
	f := func(v float64) *float64 { return &v }
	payloads := []string{
		`{"voltage_v":4.98,"sensor":{"bmp280":{"temperature_c":21.5},"ina219":{"max_current_a":3.2,"shunt_ohms":0.1}}}`,
		`{"voltage_v":4.98,"sensor":{"bmp280":{"temperature_c":21.5},"ina219":{"max_current_a":3.20,"shunt_ohms":0.1}}}`,
		`{"voltage_v":4.98,"sensor":{"bmp280":{"temperature_c":21.5},"ina219":{"max_current_a":3.2, "shunt_ohms":0.1}}}`,
		`{"sensor":{"bmp280":{}},"device":{"boot":7,"firmware":"1.0.0"}}`,
	}
	var rs []thermowatt.Reading
	for round := range 4 {
		for i, p := range payloads {
			rs = append(rs, thermowatt.Reading{DeviceID: "d1", RecordedAt: base.Add(time.Duration(round*len(payloads)+i) * time.Minute),
				Temperature: f(21.5), VoltageV: f(4.98), Payload: json.RawMessage(p)})
		}
		// One batch a round: the store may learn a payload from one
		// batch and use it in the next.
		insert(t, s, rs[len(rs)-len(payloads):], base)
	}
	got := query(t, s, store.Query{Limit: 100})
	slices.Reverse(got)
	if len(got) != len(rs) {
		t.Fatalf("%d readings stored, want %d", len(got), len(rs))
	}
	for i, r := range rs {
		if !sameJSON(t, got[i].Payload, r.Payload) {
			t.Errorf("reading %d: payload\n got %s\nwant %s", i, got[i].Payload, r.Payload)
		}
		// The number's text as sent, where sameJSON decodes both to 3.2.
		if want := strings.Contains(string(r.Payload), "3.20"); strings.Contains(string(got[i].Payload), "3.20") != want {
			t.Errorf("reading %d: payload %s, want max_current_a written as in %s", i, got[i].Payload, r.Payload)
		}
	}
	d, err := s.GetDevice(t.Context(), "d1")
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, d.Health, []byte(`{"boot":7,"firmware":"1.0.0"}`)) || d.HealthAt == nil || !d.HealthAt.Equal(rs[len(rs)-1].RecordedAt) {
		t.Errorf("health %s at %v, want the last reading's report at %v", d.Health, d.HealthAt, rs[len(rs)-1].RecordedAt)
	}
}
