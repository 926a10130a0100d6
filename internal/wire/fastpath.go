package wire

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// The decoder's shortcuts: the common case, a reading as the firmware
// writes it, takes them; anything else still goes through encoding/json,
// so the results are the same.

// plainString returns what is between the quotes of the JSON string raw
// when that is printable ASCII without escapes (ids, RFC 3339 times, field
// names): then it is the string's value as it is.
func plainString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c < 0x20 || c > 0x7e || c == '\\' || c == '"' {
			return nil, false
		}
	}
	return inner, true
}

// unquote decodes the JSON string raw. A plain string is its own value
// between the quotes; other values go through json.Unmarshal, which says
// whether raw is a string at all.
func unquote(raw []byte) (string, error) {
	if inner, ok := plainString(raw); ok {
		return string(inner), nil
	}
	return unquoteSlow(raw)
}

// unquoteSlow is apart so that its string, which json.Unmarshal makes
// escape, is not allocated on the common path.
func unquoteSlow(raw []byte) (string, error) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// unquoteKey decodes a member name the scanner found (a valid JSON
// string) as encoding/json does: invalid UTF-8 becomes U+FFFD.
func unquoteKey(raw []byte) string {
	s, _ := unquote(raw)
	return s
}

// matchKey returns the index in names of the field a member name (a JSON
// string, quotes included) sets, or -1. Like encoding/json, it takes an
// exact match, or else one that differs only in case (Unicode simple case
// folding, so the Kelvin sign matches k).
func matchKey(raw []byte, names []string) int {
	if inner, ok := plainString(raw); ok {
		for i, name := range names {
			if string(inner) == name {
				return i
			}
		}
		for i, name := range names {
			if asciiEqualFold(inner, name) {
				return i
			}
		}
		return -1
	}
	key := foldName(unquoteKey(raw))
	for i, name := range names {
		if key == foldName(name) {
			return i
		}
	}
	return -1
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// foldName is encoding/json's (fold.go): names match when their folds are
// equal. ASCII letters fold to upper case, other runes to the smallest
// rune of their simple-folding orbit.
func foldName(s string) string {
	var out []byte
	for _, r := range s {
		if r < utf8.RuneSelf {
			c := byte(r)
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			continue
		}
		out = utf8.AppendRune(out, foldRune(r))
	}
	return string(out)
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
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
