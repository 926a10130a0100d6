package wire

import (
	"fmt"
	"unicode/utf8"
)

// unstorableText finds the first string in a valid JSON value that a
// backend could not keep exactly as received, and says what it holds:
// PostgreSQL's jsonb refuses the NUL character and UTF-16 surrogates that
// are not in a high-low pair, and bytes that are not UTF-8 would be served
// back inside UTF-8 JSON and CSV, which a strict reader refuses whole.
// Keys count as strings. The answer is "" when every string is storable.
func unstorableText(v []byte) string {
	// The common case, plain ASCII without escapes, costs one pass.
	plain := true
	for _, c := range v {
		if c >= 0x80 || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '"' {
			continue
		}
		end, problem := scanString(v, i+1)
		if problem != "" {
			return fmt.Sprintf("payload holds %s (at byte %d of the payload); send its text as UTF-8 without NUL characters", problem, end)
		}
		i = end
	}
	return ""
}

// scanString checks the string whose text starts at v[i] (after its
// opening quote) and returns the index of its closing quote, or the index
// of the first problem and what it is.
func scanString(v []byte, i int) (int, string) {
	for i < len(v) {
		c := v[i]
		switch {
		case c == '"':
			return i, ""
		case c == '\\':
			if i+1 < len(v) && v[i+1] == 'u' {
				r, ok := hex4(v, i+2)
				if !ok {
					return i, "a malformed \\u escape"
				}
				switch {
				case r == 0:
					return i, `a NUL character (\u0000), which PostgreSQL cannot store`
				case 0xDC00 <= r && r <= 0xDFFF:
					return i, fmt.Sprintf(`a low surrogate \u%04x without a high surrogate before it`, r)
				case 0xD800 <= r && r <= 0xDBFF:
					low, ok := -1, false
					if i+7 < len(v) && v[i+6] == '\\' && v[i+7] == 'u' {
						var r2 rune
						if r2, ok = hex4(v, i+8); ok && 0xDC00 <= r2 && r2 <= 0xDFFF {
							low = int(r2)
						}
					}
					if low < 0 {
						return i, fmt.Sprintf(`a high surrogate \u%04x without a low surrogate after it`, r)
					}
					i += 12
					continue
				}
				i += 6
				continue
			}
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, "bytes that are not UTF-8"
			}
			i += size
		}
	}
	return i, "an unterminated string"
}

// hex4 reads four hex digits at v[i:].
func hex4(v []byte, i int) (rune, bool) {
	if i+4 > len(v) {
		return 0, false
	}
	var r rune
	for _, c := range v[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
