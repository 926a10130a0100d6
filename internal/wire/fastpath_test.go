package wire

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/thermowatt/thermowatt"
)

// The shortcuts must agree with the general decoding they stand in for.

func TestValidDeviceIDMatchesPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	long := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"
	for _, id := range []string{"", "a", "esp32-node-01", "esp32_node.01", long, long + "x", "a b", "a/b",
		"ä", "a\n", "\na", "a$", "-", ".", "..", "...", ".a", "日本", "a\x00"} {
		want := pattern.MatchString(id) && id != "." && id != ".." // path segments of their own
		if got := thermowatt.ValidDeviceID(id); got != want {
			t.Errorf("thermowatt.ValidDeviceID(%q) = %v, the pattern says %v", id, got, want)
		}
	}
}

func TestUnquoteMatchesUnmarshal(t *testing.T) {
	for _, raw := range []string{`"esp32-01"`, `"2025-02-05T09:30:00+09:00"`, `""`, `"a\"b"`, `"a\\b"`,
		`"\u0041"`, `"日本"`, `"tab\there"`, `12`, `null`, `{"a":1}`, `"`, `"unterminated`} {
		var want string
		got, gotErr := unquote([]byte(raw))
		wantErr := json.Unmarshal([]byte(raw), &want)
		if (gotErr == nil) != (wantErr == nil) || got != want {
			t.Errorf("unquote(%s) = %q, %v; json.Unmarshal gives %q, %v", raw, got, gotErr, want, wantErr)
		}
	}
}

func TestCompactJSON(t *testing.T) {
	for raw, want := range map[string]string{
		`{"voltage_v":5.02}`:                  `{"voltage_v":5.02}`,
		"{ \"voltage_v\" : 5.02,\n \"x\":1 }": `{"voltage_v":5.02,"x":1}`,
		`{"note":"two words"}`:                `{"note":"two words"}`,
	} {
		got, err := compactJSON(json.RawMessage(raw))
		if err != nil || string(got) != want {
			t.Errorf("compactJSON(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}
