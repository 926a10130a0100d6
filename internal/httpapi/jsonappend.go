package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// The answers sent most often, a page of readings, the answer to a stored
// batch and a chart's series, are written by appending bytes rather than
// through encoding/json's reflection (which also re-compacted every
// payload, and took a third of the server's CPU for a 720-point series). The
// bytes are exactly encoding/json's (json.Encoder with its default HTML
// escaping, and a final newline): TestAppendersMatchEncodingJSON checks.

// writeJSONBytes sends an answer already encoded.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = headerJSON // as securityHeaders
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// appendResult encodes an ingest answer; rejections, which carry
// client-chosen text, go through encoding/json.
func appendResult(b []byte, res wire.Result) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(res.Accepted), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(res.Duplicates), 10)
	b = append(b, `,"rejected":`...)
	switch {
	case res.Rejected == nil:
		b = append(b, "null"...)
	case len(res.Rejected) == 0:
		b = append(b, "[]"...)
	default:
		rej, _ := json.Marshal(res.Rejected)
		b = append(b, rej...)
	}
	return append(b, "}\n"...)
}

// appendMeasurements encodes a page of readings as
// {"items":[...],"nextCursor":...}.
func appendMeasurements(b []byte, rows []thermowatt.Stored, next *string) []byte {
	b = append(b, `{"items":[`...)
	for i, s := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMeasurement(b, s)
	}
	b = append(b, `],"nextCursor":`...)
	if next == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *next)
	}
	return append(b, "}\n"...)
}

// quantityKeys are each quantity's key in an answer, after a comma:
// ,"temperature": (names need no escaping).
var quantityKeys = func() (keys [thermowatt.NumQuantities]string) {
	for _, q := range thermowatt.Quantities {
		keys[q] = `,"` + q.Name() + `":`
	}
	return keys
}()

// appendMeasurement encodes one reading as the API returns it (schema
// Measurement): its identity, then each quantity a Reading holds
// (thermowatt.ReadingFields: pressure only in the payload), then the
// payload.
func appendMeasurement(b []byte, s thermowatt.Stored) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, s.ID, 10)
	b = append(b, `,"deviceId":`...)
	b = appendString(b, s.DeviceID)
	b = append(b, `,"recordedAt":`...)
	b = appendTime(b, s.RecordedAt.UTC())
	b = append(b, `,"receivedAt":`...)
	b = appendTime(b, s.ReceivedAt.UTC())
	b = append(b, `,"recordedAtSource":`...)
	b = appendString(b, recordedAtSource(s.Reading))
	for _, q := range thermowatt.ReadingFields {
		b = append(b, quantityKeys[q]...)
		b = appendNumber(b, q.Of(&s.Reading))
	}
	b = append(b, `,"payload":`...)
	if len(s.Payload) == 0 {
		b = append(b, "null"...)
	} else {
		b = appendPayload(b, s.Payload)
	}
	return append(b, '}')
}

// appendSeries encodes a series answer as the map of deviceId, from, to,
// bucketSeconds and points that encoding/json made of it before (the
// reference is in jsonappend_test.go), keys in its sorted order.
func appendSeries(b []byte, q store.SeriesQuery, pts []store.SeriesPoint) []byte {
	b = append(b, `{"bucketSeconds":`...)
	seconds := q.Bucket.Seconds()
	b = appendNumber(b, &seconds)
	b = append(b, `,"deviceId":`...)
	b = appendString(b, q.DeviceID)
	b = append(b, `,"from":`...)
	b = appendTime(b, q.From.UTC())
	b = append(b, `,"points":[`...)
	for i, p := range pts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"time":`...)
		b = appendTime(b, p.Time)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, p.Count, 10)
		for q, s := range p.Stats {
			b = appendStats(b, quantityKeys[q], s)
		}
		b = append(b, '}')
	}
	b = append(b, `],"to":`...)
	b = appendTime(b, q.To.UTC())
	return append(b, "}\n"...)
}

// appendStats appends key and one field's avg/min/max, or nothing when no
// reading of the bucket had the field (omitempty).
func appendStats(b []byte, key string, s store.Stats) []byte {
	if s.Avg == nil && s.Min == nil && s.Max == nil {
		return b
	}
	b = append(b, key...)
	b = append(b, `{"avg":`...)
	b = appendNumber(b, s.Avg)
	b = append(b, `,"min":`...)
	b = appendNumber(b, s.Min)
	b = append(b, `,"max":`...)
	b = appendNumber(b, s.Max)
	return append(b, '}')
}

// appendTime is time.Time's MarshalJSON for the years it accepts.
func appendTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		// RFC 3339 has no such year, and encoding/json would fail; the
		// answer stays valid JSON (parseTimeBounds refuses such bounds).
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendNumber is encoding/json's float64 encoding, or null.
func appendNumber(b []byte, v *float64) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	f := *v
	if math.IsInf(f, 0) || math.IsNaN(f) {
		// JSON has no such number (encoding/json fails): a statistic the
		// store could not compute finitely is unknown, and the answer
		// stays valid JSON whatever is stored.
		return append(b, "null"...)
	}
	// Like ES6: exponent form only for very small and very large values.
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString encodes s; strings that need any escaping (device ids and
// cursors never do) go through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			out, _ := json.Marshal(s)
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendPayload writes a stored payload (valid JSON) as encoding/json
// writes a json.RawMessage: compacted, with <, >, &, U+2028 and U+2029
// escaped. Most payloads need neither and are copied as they are.
func appendPayload(b []byte, p json.RawMessage) []byte {
	for _, c := range p {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return appendCompactEscaped(b, p)
		}
	}
	return append(b, p...)
}

// appendCompactEscaped drops the whitespace outside strings and escapes
// what a browser could take for HTML, as encoding/json's compact does.
func appendCompactEscaped(b []byte, p []byte) []byte {
	const hex = "0123456789abcdef"
	inString, escaped := false, false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		case c == 0xE2 && i+2 < len(p) && p[i+1] == 0x80 && p[i+2]&^1 == 0xA8: // U+2028, U+2029
			b = append(b, '\\', 'u', '2', '0', '2', hex[p[i+2]&0xF])
			i += 2
		case inString:
			b = append(b, c)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		default:
			b = append(b, c)
		}
		if c == '"' && !escaped {
			inString = !inString
		}
		escaped = inString && c == '\\' && !escaped
	}
	return b
}
