package wire

import (
	"strings"
	"testing"
)

// The pressure the roll-ups and series summarise is range-checked like a
// column, at every member of its path's names; a value outside is refused
// on its own reading with the field named, and the reading beside it is
// stored. (Before: 1.7e308 was stored, and two in one hour overflowed the
// hour's sum.)
func TestDecodeRefusesPressureOutOfRangePerReading(t *testing.T) {
	good := `{"deviceId":"n1","recordedAt":"2026-11-27T01:00:00Z","payload":{"sensor":{"bmp280":{"pressure_hpa":1013.2}}}}`
	for _, payload := range []string{
		`{"sensor":{"bmp280":{"pressure_hpa":1.7e308}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":-1.7e308}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":1e400}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":-1}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":10000.5}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":1e9,"pressure_hpa":1000}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":1000}},"sensor":{"bmp280":{"pressure_hpa":2e300}}}`,
		`{"sensor":{"bmp280":{"pressure\u005fhpa":2e300}}}`,
	} {
		body := `[` + good + `,{"deviceId":"n1","recordedAt":"2026-11-27T01:00:01Z","payload":` + payload + `}]`
		b, err := Decode([]byte(body), now)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Readings) != 1 || len(b.Rejected) != 1 || b.Rejected[0].Index != 1 || b.Rejected[0].Field != PressureField {
			t.Errorf("%s: readings %d, rejected %+v; want the good reading stored and the other refused on %s", payload, len(b.Readings), b.Rejected, PressureField)
		}
		sameDecode(t, []byte(body))
	}
	for _, payload := range []string{
		`{"sensor":{"bmp280":{"pressure_hpa":0}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":10000}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":"n/a"}}}`,   // not a number: free-form, not summarised
		`{"sensor":{"bmp280":{"error":"i2c timeout"}}}`,  // as the firmware reports a failed sensor
		`{"Sensor":{"bmp280":{"pressure_hpa":1e300}}}`,   // another path: the stores do not read it
		`{"sensor":{"bmp280":[{"pressure_hpa":1e300}]}}`, // ditto
		`{"sensor":{"BMP280":{"pressure_hpa":1e300}}}`,   // ditto
		`{"other":{"sensor":{"bmp280":{"pressure_hpa":-5}}}}`,
	} {
		body := `{"deviceId":"n1","recordedAt":"2026-11-27T01:00:01Z","payload":` + payload + `}`
		if b, err := Decode([]byte(body), now); err != nil || len(b.Readings) != 1 {
			t.Errorf("%s: refused %+v, want accepted", payload, b.Rejected)
		}
		sameDecode(t, []byte(body))
	}
}

// A payload nested deeper than MaxPayloadDepth is refused on its own
// reading (field payload) whatever the backend: SQLite's json_valid would
// otherwise fail the commit of the whole batch at 1,000 levels.
func TestDecodeRefusesDeepPayloadPerReading(t *testing.T) {
	nest := func(levels int) string { // a payload object nesting levels deep
		return `{"x":` + strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1) + `}`
	}
	nestObj := func(levels int) string {
		return strings.Repeat(`{"a":`, levels) + `1` + strings.Repeat(`}`, levels)
	}
	for _, c := range []struct {
		payload string
		ok      bool
	}{
		{nest(MaxPayloadDepth), true}, {nestObj(MaxPayloadDepth), true},
		{nest(MaxPayloadDepth + 1), false}, {nestObj(MaxPayloadDepth + 1), false},
		{nest(1000), false}, {nestObj(1000), false}, {nest(3000), false},
	} {
		good := `{"deviceId":"n1","temperature":1}`
		body := `[` + good + `,{"deviceId":"n1","payload":` + c.payload + `}]`
		b, err := Decode([]byte(body), now)
		if err != nil {
			t.Fatal(err)
		}
		accepted := len(b.Readings) == 2
		if accepted != c.ok || len(b.Readings) < 1 {
			t.Errorf("depth %d: readings %d, rejected %+v", strings.Count(c.payload, "[")+strings.Count(c.payload, "{"), len(b.Readings), b.Rejected)
			continue
		}
		if !c.ok && (b.Rejected[0].Field != "payload" || !strings.Contains(b.Rejected[0].Message, "levels deep")) {
			t.Errorf("rejection %+v, want field payload saying how deep", b.Rejected[0])
		}
		sameDecode(t, []byte(body))
	}
}

// A deviceId that breaks the id rule is named in InvalidIDs, so that a
// device token's batch naming it is refused whole as one naming another
// device is (one rule, in decodeReadings).
func TestDecodeListsInvalidIDs(t *testing.T) {
	body := `[{"deviceId":"n1"},{"deviceId":"bad id!"},{"deviceId":"bad id!"},{"deviceId":7},{"deviceId":".."}]`
	b, err := Decode([]byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(b.InvalidIDs, "|") != "bad id!|.." {
		t.Fatalf("InvalidIDs = %q", b.InvalidIDs)
	}
	sameDecode(t, []byte(body))
}
