package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"github.com/thermowatt/thermowatt"
)

// columnsFrom returns the columns the wire decoder would fill from
// payload (the power fields at its top level, the pressure), with the
// temperature taken from sensor.bmp280.temperature_c as the firmware
// sends it.
func columnsFrom(payload []byte) Columns {
	var c Columns
	if !json.Valid(payload) {
		return c
	}
	top, ok := objectMembers(payload, 0)
	if !ok {
		return c
	}
	num := func(m member) *float64 {
		v, err := strconv.ParseFloat(string(payload[m.value[0]:m.value[1]]), 64)
		if err != nil {
			return nil
		}
		return &v
	}
	for _, m := range top.members {
		switch m.name(payload) {
		case "voltage_v":
			c.VoltageV = num(m)
		case "current_ma":
			c.CurrentMA = num(m)
		case "power_mw":
			c.PowerMW = num(m)
		}
	}
	if bmp, ok := bmp280(payload, top); ok {
		for _, m := range bmp.members {
			if m.name(payload) == "temperature_c" {
				c.Temperature = num(m)
			}
		}
	}
	c.PressureHPa = PayloadPressure(payload)
	return c
}

// sameJSON reports whether a and b decode to the same value, numbers
// compared by their text.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(p []byte) any {
		d := json.NewDecoder(bytes.NewReader(p))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%s is not JSON: %v", p, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

func TestFoldPayload(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	firmware := `{"voltage_v":4.98,"current_ma":101.25,"power_mw":504.2,"sensor":{"bmp280":{"pressure_hpa":1012.25,"temperature_c":21.5},"ina219":{"max_current_a":3.2,"shunt_ohms":0.1}}}`
	for _, tc := range []struct {
		name, payload, rest string
		c                   Columns
		fold                Fold
	}{
		{"firmware", firmware, `{"sensor":{"bmp280":{},"ina219":{"max_current_a":3.2,"shunt_ohms":0.1}}}`,
			Columns{f(21.5), f(4.98), f(101.25), f(504.2), f(1012.25)}, 31},
		{"column differs", `{"voltage_v":4.98,"power_mw":5}`, `{"voltage_v":4.98}`, Columns{VoltageV: f(5), PowerMW: f(5)}, FoldPowerMW},
		{"no column", `{"voltage_v":4.98}`, `{"voltage_v":4.98}`, Columns{}, 0},
		{"other text of the number", `{"voltage_v":5.0,"current_ma":1e21,"power_mw":1E2}`, `{"voltage_v":5.0,"current_ma":1e21,"power_mw":1E2}`,
			Columns{VoltageV: f(5), CurrentMA: f(1e21), PowerMW: f(100)}, 0},
		{"large and small", `{"current_ma":1e+21,"power_mw":1e-7}`, `{}`, Columns{CurrentMA: f(1e21), PowerMW: f(1e-7)}, FoldCurrentMA | FoldPowerMW},
		{"negative zero", `{"voltage_v":-0}`, `{"voltage_v":-0}`, Columns{VoltageV: f(0)}, 0},
		{"name in another case", `{"voltage_v":1,"Voltage_V":1}`, `{"voltage_v":1,"Voltage_V":1}`, Columns{VoltageV: f(1)}, 0},
		{"escaped name", `{"voltage\u005fv":1}`, `{"voltage\u005fv":1}`, Columns{VoltageV: f(1)}, 0},
		{"two sensors", `{"sensor":{"bmp280":{"pressure_hpa":1000}},"sensor":{"bmp280":{"pressure_hpa":1000}}}`,
			`{"sensor":{"bmp280":{"pressure_hpa":1000}},"sensor":{"bmp280":{"pressure_hpa":1000}}}`, Columns{PressureHPa: f(1000)}, 0},
		{"spaces", "{ \"a\" : [1, {\"b\":2}] ,\n \"power_mw\" : 7 , \"z\":\"x\" }", "{ \"a\" : [1, {\"b\":2}] , \"z\":\"x\" }", Columns{PowerMW: f(7)}, FoldPowerMW},
		{"last member", `{"a":1,"power_mw":7}`, `{"a":1}`, Columns{PowerMW: f(7)}, FoldPowerMW},
		{"not JSON", `{"power_mw":7`, `{"power_mw":7`, Columns{PowerMW: f(7)}, 0},
		{"not an object", `[1]`, `[1]`, Columns{PowerMW: f(7)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rest, fold := FoldPayload(json.RawMessage(tc.payload), tc.c)
			if string(rest) != tc.rest || fold != tc.fold {
				t.Fatalf("FoldPayload(%s) = %s, %05b; want %s, %05b", tc.payload, rest, fold, tc.rest, tc.fold)
			}
			back := UnfoldPayload(rest, fold, tc.c)
			if json.Valid([]byte(tc.payload)) && !sameJSON(t, back, []byte(tc.payload)) {
				t.Errorf("UnfoldPayload gave %s, want %s", back, tc.payload)
			}
		})
	}
	{
		p := `{"a":1,"voltage_v":1,"current_ma":2,"b":2,"power_mw":3}`
		rest, fold := FoldPayload(json.RawMessage(p), columnsFrom([]byte(p)))
		if string(rest) != `{"a":1,"b":2}` || fold != FoldVoltageV|FoldCurrentMA|FoldPowerMW {
			t.Errorf("FoldPayload(%s) = %s, %05b", p, rest, fold)
		}
	}
	// Go clients send the members in the order they come back in.
	rest, fold := FoldPayload(json.RawMessage(firmware), columnsFrom([]byte(firmware)))
	if back := UnfoldPayload(rest, fold, columnsFrom([]byte(firmware))); string(back) != firmware {
		t.Errorf("the firmware's payload came back as\n%s\nwant\n%s", back, firmware)
	}
}

func TestPayloadPressure(t *testing.T) {
	for payload, want := range map[string]string{
		`{"sensor":{"bmp280":{"pressure_hpa":1013.25}}}`:                       "1013.25",
		`{"sensor":{"bmp280":{"pressure_hpa":1,"pressure_hpa":2}}}`:            "2",
		`{"sensor":{"bmp280":{"pressure_hpa":"1013"}}}`:                        "nil",
		`{"sensor":{"bmp280":{"pressure_hpa":1e400}}}`:                         "nil",
		`{"sensor":{"bmp280":{"pressure_hpa":null}}}`:                          "nil",
		`{"sensor":{"bmp280":1013},"pressure_hpa":1}`:                          "nil",
		`{"sensor":{"bmp280":{"pressure_hpa":5}},"sensor":{"bmp280":{"x":1}}}`: "nil",
		`{"sensor":{"bmp280":{"pressure_hpa":-0.5e1}}}`:                        "-5",
	} {
		got := "nil"
		if p := PayloadPressure(json.RawMessage(payload)); p != nil {
			got = strconv.FormatFloat(*p, 'g', -1, 64)
		}
		if got != want {
			t.Errorf("PayloadPressure(%s) = %s, want %s", payload, got, want)
		}
	}
}

// FuzzFoldPayload checks that folding a payload and unfolding it gives
// back the same object, numbers with the same text, whatever the
// payload.
func FuzzFoldPayload(f *testing.F) {
	f.Add(`{"voltage_v":4.98,"current_ma":101.25,"power_mw":504.2,"sensor":{"bmp280":{"pressure_hpa":1012.25,"temperature_c":21.5}}}`)
	f.Add(`{"power_mw":1,"device":{"boot":3}}`)
	f.Fuzz(func(t *testing.T, payload string) {
		p := []byte(payload)
		c := columnsFrom(p)
		rest, fold := FoldPayload(p, c)
		if !json.Valid(p) {
			if fold != 0 || !bytes.Equal(rest, p) {
				t.Fatalf("FoldPayload changed a payload that is not JSON: %q -> %q", p, rest)
			}
			return
		}
		if !json.Valid(rest) {
			t.Fatalf("FoldPayload(%s) = %q, not JSON", p, rest)
		}
		back := UnfoldPayload(rest, fold, c)
		if !sameJSON(t, back, p) {
			t.Fatalf("FoldPayload(%s) = %s, %05b; unfolded: %s", p, rest, fold, back)
		}
		// FoldReading, what the stores call, is ColumnsOf and FoldPayload
		// in one reading of the payload.
		r := thermowatt.Reading{Temperature: c.Temperature, VoltageV: c.VoltageV, CurrentMA: c.CurrentMA, PowerMW: c.PowerMW, Payload: p}
		rc, rrest, rfold := FoldReading(r)
		wrest, wfold := FoldPayload(p, ColumnsOf(r))
		if !reflect.DeepEqual(rc, ColumnsOf(r)) || !bytes.Equal(rrest, wrest) || rfold != wfold {
			t.Fatalf("FoldReading(%s) = %+v, %s, %05b; want %+v, %s, %05b", p, rc, rrest, rfold, ColumnsOf(r), wrest, wfold)
		}
	})
}
