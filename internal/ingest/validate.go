package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt/internal/reading"
)

// The accepted ranges. They are wide enough for any sensor a node might
// carry (a thermocouple, a mains meter) and narrow enough to catch a
// garbage register read or a unit mix-up (mA sent as A is still in range;
// µA sent as mA beyond an amp is not).
var (
	// Earliest is the earliest recordedAt accepted: a device whose clock
	// never synced reports 1970 or 2000 dates, which must not be stored.
	Earliest = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	// MaxFuture is how far ahead of the server's clock a recordedAt may be.
	MaxFuture = 10 * time.Minute

	ranges = map[string][2]float64{
		"temperature":        {-100, 200},   // °C
		"humidity":           {0, 100},      // % RH
		"payload.voltage_v":  {-1000, 1000}, // V
		"payload.current_ma": {-1e6, 1e6},   // mA (±1 kA)
		"payload.power_mw":   {-1e9, 1e9},   // mW (±1 MW)
	}
)

// ValidDeviceID reports whether id is an acceptable device id.
func ValidDeviceID(id string) bool { return validDeviceID(id) }

// wireReading is a reading as JSON carries it. Fields are raw so that a
// wrong type is reported against its own field with a clear message.
type wireReading struct {
	DeviceID    json.RawMessage `json:"deviceId"`
	RecordedAt  json.RawMessage `json:"recordedAt"`
	Temperature json.RawMessage `json:"temperature"`
	Humidity    json.RawMessage `json:"humidity"`
	Payload     json.RawMessage `json:"payload"`
}

type wirePower struct {
	VoltageV  json.RawMessage `json:"voltage_v"`
	CurrentMA json.RawMessage `json:"current_ma"`
	PowerMW   json.RawMessage `json:"power_mw"`
}

// parseReading validates one reading. On failure it returns the field and
// message of the first problem; the returned reading still carries the
// device id when that much was readable.
func parseReading(raw json.RawMessage, now time.Time) (r reading.Reading, field, msg string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return r, "", "a reading must be a JSON object"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var w wireReading
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
	if unquote(w.DeviceID, &id) != nil {
		return r, "deviceId", "deviceId must be a string"
	}
	if !validDeviceID(id) {
		return r, "deviceId", "deviceId must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
	}
	r.DeviceID = id

	if isNull(w.RecordedAt) {
		r.RecordedAt = now.UTC().Truncate(reading.Precision)
		r.ServerTime = true
	} else {
		var s string
		if unquote(w.RecordedAt, &s) != nil {
			return r, "recordedAt", "recordedAt must be an RFC 3339 string such as 2025-02-05T09:30:00+09:00"
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return r, "recordedAt", fmt.Sprintf("recordedAt %q is not RFC 3339 with a time-zone offset (e.g. 2025-02-05T09:30:00+09:00 or ...Z)", s)
		}
		if t.Before(Earliest) {
			return r, "recordedAt", fmt.Sprintf("recordedAt %s is before 2020-01-01: the device clock is probably not set (sync it by NTP before sending)", s)
		}
		if t.After(now.Add(MaxFuture)) {
			return r, "recordedAt", fmt.Sprintf("recordedAt %s is more than 10 minutes ahead of the server clock (%s)", s, now.UTC().Format(time.RFC3339))
		}
		r.RecordedAt = t.UTC().Truncate(reading.Precision)
	}

	var ok bool
	if r.Temperature, field, msg, ok = number("temperature", w.Temperature); !ok {
		return r, field, msg
	}
	if r.Humidity, field, msg, ok = number("humidity", w.Humidity); !ok {
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
	var p wirePower
	if err := json.Unmarshal(w.Payload, &p); err != nil {
		return r, "payload", "payload is not a valid JSON object: " + jsonErrorText(err)
	}
	if r.VoltageV, field, msg, ok = number("payload.voltage_v", p.VoltageV); !ok {
		return r, field, msg
	}
	if r.CurrentMA, field, msg, ok = number("payload.current_ma", p.CurrentMA); !ok {
		return r, field, msg
	}
	if r.PowerMW, field, msg, ok = number("payload.power_mw", p.PowerMW); !ok {
		return r, field, msg
	}
	compact, err := compactJSON(w.Payload)
	if err != nil {
		return r, "payload", "payload is not valid JSON"
	}
	r.Payload = compact
	return r, "", ""
}

// number parses an optional number field and checks its documented range.
func number(field string, raw json.RawMessage) (v *float64, f, msg string, ok bool) {
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

func unit(field string) string {
	switch field {
	case "temperature":
		return "°C"
	case "humidity":
		return "%"
	case "payload.voltage_v":
		return "V"
	case "payload.current_ma":
		return "mA"
	}
	return "mW"
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
