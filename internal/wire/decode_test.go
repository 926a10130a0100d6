package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
)

var now = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

func TestDecodeKeepsPowerInPayloadAndTypedFields(t *testing.T) {
	b, err := Decode([]byte(`{"deviceId":"n1","recordedAt":"2026-11-27T11:59:59.1234567+09:00",
		"payload":{"voltage_v":4.98,"current_ma":-1.5,"power_mw":0,"extra":{"a":[1,2]}}}`), now)
	if err != nil || len(b.Readings) != 1 || len(b.Rejected) != 0 {
		t.Fatalf("%v %+v", err, b)
	}
	r := b.Readings[0]
	if *r.VoltageV != 4.98 || *r.CurrentMA != -1.5 || *r.PowerMW != 0 || r.Temperature != nil {
		t.Fatalf("typed fields: %+v", r)
	}
	if want := time.Date(2026, 11, 27, 2, 59, 59, 123456000, time.UTC); !r.RecordedAt.Equal(want) || r.RecordedAt.Location() != time.UTC {
		t.Fatalf("recordedAt %v, want %v truncated to µs in UTC", r.RecordedAt, want)
	}
	if string(r.Payload) != `{"voltage_v":4.98,"current_ma":-1.5,"power_mw":0,"extra":{"a":[1,2]}}` {
		t.Fatalf("payload %s", r.Payload)
	}
}

func TestDecodeBoundaries(t *testing.T) {
	cases := map[string]bool{ // recordedAt → accepted
		"2020-01-01T00:00:00Z":      true,
		"2019-12-31T23:59:59Z":      false,
		"2026-11-27T03:10:00Z":      true,  // exactly 10 minutes ahead
		"2026-11-27T03:10:00.001Z":  false, // beyond
		"2026-11-27T12:09:00+09:00": true,
	}
	for at, ok := range cases {
		b, _ := Decode([]byte(`{"deviceId":"n1","recordedAt":"`+at+`"}`), now)
		if (len(b.Readings) == 1) != ok {
			t.Errorf("%s: accepted=%v, want %v (%+v)", at, len(b.Readings) == 1, ok, b.Rejected)
		}
	}
	limit := `{"deviceId":"n1","temperature":200,"humidity":0,"payload":{"voltage_v":-1000,"current_ma":1e6,"power_mw":-1e9}}`
	if b, _ := Decode([]byte(limit), now); len(b.Readings) != 1 {
		t.Errorf("range limits are inclusive: %+v", b.Rejected)
	}
}

func TestDecodeNamesEveryDeviceForAccessChecks(t *testing.T) {
	b, err := Decode([]byte(`[{"deviceId":"a"},{"deviceId":"b","temperature":"x"},{"deviceId":"a"},{"deviceId":"bad id"}]`), now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(b.DeviceIDs, ",") != "a,b" {
		t.Fatalf("DeviceIDs = %v: an invalid reading's device must still be checked", b.DeviceIDs)
	}
}

// FuzzDecode: whatever the body, Decode never panics, every reading of the
// request is either accepted or rejected exactly once, and what it accepts
// obeys the rules.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"deviceId":"esp32-node-01","temperature":24.3,"humidity":null,"recordedAt":"2025-02-05T09:30:00+09:00","payload":{"voltage_v":4.98,"current_ma":120.4,"power_mw":600.5}}`,
		`[{"deviceId":"a","recordedAt":"2026-11-27T00:00:00Z"},{"deviceId":"b","temperature":"x"}]`,
		`[]`, `{}`, `[1,"x",null]`, `{"deviceId":"a","payload":[]}`, `{"deviceId":"a","temperature":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := Decode(body, now)
		if err != nil {
			return
		}
		if len(b.Readings)+len(b.Rejected) != b.Total || len(b.Indexes) != len(b.Readings) {
			t.Fatalf("readings %d + rejected %d != total %d", len(b.Readings), len(b.Rejected), b.Total)
		}
		for _, r := range b.Readings {
			if !ValidDeviceID(r.DeviceID) || r.RecordedAt.Before(Earliest) || r.RecordedAt.After(now.Add(MaxFuture)) {
				t.Fatalf("accepted an invalid reading: %+v", r)
			}
			if r.Payload != nil && !json.Valid(r.Payload) {
				t.Fatalf("payload not JSON: %q", r.Payload)
			}
		}
	})
}

// parseReading decodes one reading object as Decode does, for the tests
// of the rules.
func parseReading(raw []byte, now time.Time) (r thermowatt.Reading, field, msg string) {
	b, err := Decode(raw, now)
	switch {
	case err != nil:
		return r, "", err.Error()
	case len(b.Rejected) == 1:
		return r, b.Rejected[0].Field, b.Rejected[0].Message
	}
	return b.Readings[0], "", ""
}

func TestUnstorableTextNamesWhatAndWhere(t *testing.T) {
	for payload, want := range map[string]string{
		`{"a":"x","s":"\u0000"}`:                         `a NUL character (\u0000), which PostgreSQL cannot store (at byte 14`,
		`{"s":"\uD800"}`:                                 `a high surrogate \ud800 without a low surrogate after it`,
		`{"s":"\uDFFF"}`:                                 `a low surrogate \udfff without a high surrogate before it`,
		"{\"s\":\"ok \xc3\x28\"}":                        `bytes that are not UTF-8 (at byte 9`,
		`{"s":"\ud83d\ude00","t":"é"}`:                   ``,
		`{"\\u0000":"escaped backslash, not an escape"}`: ``,
	} {
		got := unstorableText([]byte(payload))
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("unstorableText(%q) = %q, want it to say %q", payload, got, want)
		}
	}
}
