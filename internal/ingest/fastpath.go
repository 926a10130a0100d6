package ingest

import (
	"bytes"
	"encoding/json"
)

// The profile of batch ingest (docs/benchmarks.md) has decoding as the
// server's largest cost. These shortcuts take the common case, a reading
// as the firmware writes it, past the general machinery; anything else
// still goes through encoding/json, so the results are the same.

// validDeviceID reports whether id is 1-64 characters of A-Z, a-z, 0-9,
// '.', '_' or '-' (a loop is several times cheaper than a regexp here).
func validDeviceID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// unquote decodes the JSON string raw into dst. A string of printable
// ASCII without escapes (ids and RFC 3339 times) is its own value between
// the quotes; other values go through json.Unmarshal.
func unquote(raw json.RawMessage, dst *string) error {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		inner := raw[1 : len(raw)-1]
		plain := true
		for _, c := range inner {
			if c < 0x20 || c > 0x7e || c == '\\' || c == '"' {
				plain = false
				break
			}
		}
		if plain {
			*dst = string(inner)
			return nil
		}
	}
	return json.Unmarshal(raw, dst)
}

// compactJSON returns valid JSON p without insignificant whitespace. Most
// payloads have none, and are returned as they are.
func compactJSON(p json.RawMessage) ([]byte, error) {
	if !bytes.ContainsAny(p, " \t\r\n") {
		return p, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
