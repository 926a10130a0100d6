package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt"
)

// The decoder Decode replaced, on encoding/json, kept as the reference its
// answers must equal (FuzzDecodeMatchesReference). Its rules helpers
// (validDeviceID, unquote, compactJSON, ranges) are shared.

// referenceDecode is Decode as it was.
func referenceDecode(body []byte, now time.Time) (Batch, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Batch{}, &BodyError{Message: "empty body: send a reading object or an array of readings"}
	}
	switch body[0] {
	case '{':
		if !json.Valid(body) {
			return Batch{}, &BodyError{Message: "body is not valid JSON"}
		}
		b := Batch{Total: 1}
		b.referenceAdd(0, body, now)
		return b, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return Batch{}, &BodyError{Message: "body is not valid JSON: " + jsonErrorText(err)}
		}
		if len(items) == 0 {
			return Batch{}, &BodyError{Message: "empty array: send at least one reading"}
		}
		if len(items) > MaxBatch {
			return Batch{}, &BodyError{TooLarge: true, Message: fmt.Sprintf("%d readings in one request; the maximum is %d: split the batch", len(items), MaxBatch)}
		}
		b := Batch{Total: len(items), Array: true}
		b.Readings = make([]thermowatt.Reading, 0, len(items))
		b.Indexes = make([]int, 0, len(items))
		for i, item := range items {
			b.referenceAdd(i, item, now)
		}
		return b, nil
	default:
		if !json.Valid(body) {
			return Batch{}, &BodyError{Message: "body is not valid JSON"}
		}
		return Batch{}, &BodyError{Message: "body must be a reading object or an array of readings"}
	}
}

func (b *Batch) referenceAdd(index int, raw json.RawMessage, now time.Time) {
	r, field, msg := referenceParseReading(raw, now)
	if r.DeviceID == "" {
		var named struct {
			DeviceID json.RawMessage `json:"deviceId"`
		}
		var id string
		if json.Unmarshal(raw, &named) == nil && !isNull(named.DeviceID) && unquoteInto(named.DeviceID, &id) {
			if thermowatt.ValidDeviceID(id) {
				r.DeviceID = id
			} else if !slices.Contains(b.InvalidIDs, id) {
				b.InvalidIDs = append(b.InvalidIDs, id)
			}
		}
	}
	if r.DeviceID != "" && !slices.Contains(b.DeviceIDs, r.DeviceID) {
		b.DeviceIDs = append(b.DeviceIDs, r.DeviceID)
	}
	if msg != "" {
		b.Rejected = append(b.Rejected, Rejection{Index: index, Field: field, Message: msg})
		return
	}
	b.Readings = append(b.Readings, r)
	b.Indexes = append(b.Indexes, index)
}

// referenceWireReading is a reading as JSON carries it. Fields are raw so that a
// wrong type is reported against its own field with a clear message.
type referenceWireReading struct {
	DeviceID    json.RawMessage `json:"deviceId"`
	RecordedAt  json.RawMessage `json:"recordedAt"`
	Temperature json.RawMessage `json:"temperature"`
	Humidity    json.RawMessage `json:"humidity"`
	Payload     json.RawMessage `json:"payload"`
}

type referenceWirePower struct {
	VoltageV  json.RawMessage `json:"voltage_v"`
	CurrentMA json.RawMessage `json:"current_ma"`
	PowerMW   json.RawMessage `json:"power_mw"`
}

// parseReading validates one reading. On failure it returns the field and
// message of the first problem; the returned reading still carries the
// device id when that much was readable.
func referenceParseReading(raw json.RawMessage, now time.Time) (r thermowatt.Reading, field, msg string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return r, "", "a reading must be a JSON object"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var w referenceWireReading
	if err := dec.Decode(&w); err != nil {
		var name string
		if _, err := fmt.Sscanf(err.Error(), "json: unknown field %q", &name); err == nil {
			return r, name, fmt.Sprintf("unknown field %q: put extra data inside payload", name)
		}
		return r, "", "not a valid reading object: " + jsonErrorText(err)
	}

	if isNull(w.DeviceID) {
		return r, "deviceId", "deviceId is required"
	}
	var id string
	if !unquoteInto(w.DeviceID, &id) {
		return r, "deviceId", "deviceId must be a string"
	}
	if !thermowatt.ValidDeviceID(id) {
		return r, "deviceId", "deviceId must be " + thermowatt.DeviceIDRule
	}
	r.DeviceID = id

	if isNull(w.RecordedAt) {
		r.RecordedAt = now.UTC().Truncate(thermowatt.Precision)
		r.ServerTime = true
	} else {
		var s string
		if !unquoteInto(w.RecordedAt, &s) {
			return r, "recordedAt", "recordedAt must be an RFC 3339 string such as 2025-02-05T09:30:00+09:00"
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return r, "recordedAt", unparsableTime(s)
		}
		if t.Before(Earliest) {
			return r, "recordedAt", fmt.Sprintf("recordedAt %s is before 2020-01-01: the device clock is probably not set (sync it by NTP before sending)", s)
		}
		if t.After(now.Add(MaxFuture)) {
			return r, "recordedAt", fmt.Sprintf("recordedAt %s is more than 10 minutes ahead of the server clock (%s)", s, now.UTC().Format(time.RFC3339))
		}
		r.RecordedAt = t.UTC().Truncate(thermowatt.Precision)
	}

	var ok bool
	if r.Temperature, field, msg, ok = referenceNumber("temperature", w.Temperature); !ok {
		return r, field, msg
	}
	if r.Humidity, field, msg, ok = referenceNumber("humidity", w.Humidity); !ok {
		return r, field, msg
	}

	if isNull(w.Payload) {
		return r, "", ""
	}
	if len(w.Payload) > MaxPayloadSize {
		return r, "payload", fmt.Sprintf("payload is %d bytes; the maximum is %d", len(w.Payload), MaxPayloadSize)
	}
	if w.Payload[0] != '{' {
		return r, "payload", "payload must be a JSON object"
	}
	if depth := referenceDepth(w.Payload); depth > MaxPayloadDepth {
		return r, "payload", depthMessage(depth)
	}
	var p referenceWirePower
	if err := json.Unmarshal(w.Payload, &p); err != nil {
		return r, "payload", "payload is not a valid JSON object: " + jsonErrorText(err)
	}
	if r.VoltageV, field, msg, ok = referenceNumber("payload.voltage_v", p.VoltageV); !ok {
		return r, field, msg
	}
	if r.CurrentMA, field, msg, ok = referenceNumber("payload.current_ma", p.CurrentMA); !ok {
		return r, field, msg
	}
	if r.PowerMW, field, msg, ok = referenceNumber("payload.power_mw", p.PowerMW); !ok {
		return r, field, msg
	}
	if bad := referencePressure(w.Payload); bad != nil {
		_, msg, _ = checkRange(PressureField, bad)
		return r, PressureField, msg
	}
	compact, err := compactJSON(w.Payload)
	if err != nil {
		return r, "payload", "payload is not valid JSON"
	}
	if msg := unstorableText(compact); msg != "" {
		return r, "payload", msg
	}
	r.Payload = compact
	return r, "", ""
}

// number parses an optional number field and checks its documented range.
func referenceNumber(field string, raw json.RawMessage) (v *float64, f, msg string, ok bool) {
	if isNull(raw) {
		return nil, "", "", true
	}
	if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return nil, field, field + " must be a number or null", false
	}
	x, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return nil, field, field + " must be a finite number or null", false
	}
	lim := ranges[field]
	if x < lim[0] || x > lim[1] {
		return nil, field, fmt.Sprintf("%s %v is outside the accepted range %v to %v %s", field, x, lim[0], lim[1], unit(field)), false
	}
	return &x, "", "", true
}

func unquoteInto(raw []byte, dst *string) bool {
	s, err := unquote(raw)
	*dst = s
	return err == nil
}

// referenceDepth is how deeply the JSON value v nests, from encoding/json's
// tokens.
func referenceDepth(v []byte) int {
	dec := json.NewDecoder(bytes.NewReader(v))
	depth, peak := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return peak
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			peak = max(peak, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// referencePressure returns the first number at sensor.bmp280.pressure_hpa
// in payload (every member of those names, repeated or not) that is out of
// range, walking encoding/json's tokens; nil when there is none.
func referencePressure(payload []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	want := []string{"sensor", "bmp280", "pressure_hpa"}
	// path holds, for each open container, the member name it was the
	// value of ("" for arrays and other members).
	var path []string
	var key string
	inObject := []bool{}
	expectKey := false
	onPath := func() bool {
		if len(path) > len(want) {
			return false
		}
		for i, p := range path[1:] {
			if p != want[i] {
				return false
			}
		}
		return true
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if expectKey {
			if s, ok := tok.(string); ok {
				key = s
				expectKey = false
				continue
			}
		}
		name := ""
		if len(inObject) > 0 && inObject[len(inObject)-1] {
			name = key
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			path = append(path, name)
			inObject = append(inObject, tok == json.Delim('{'))
		case json.Delim('}'), json.Delim(']'):
			path = path[:len(path)-1]
			inObject = inObject[:len(inObject)-1]
		default:
			if n, ok := tok.(json.Number); ok && len(path) == len(want) && onPath() && name == want[len(want)-1] {
				if _, _, ok := checkRange(PressureField, []byte(n)); !ok {
					return []byte(n)
				}
			}
		}
		expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
	}
}
