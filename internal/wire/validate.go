package wire

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt"
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
		// Absolute pressure cannot be below 0; 10,000 hPa (10 bar) is ten
		// times what a BMP280 can read (300-1,100 hPa), room for any
		// barometric or vessel sensor, and far from what a sum overflows.
		PressureField: {0, 10000}, // hPa
	}
)

// PressureField is the one metric read from inside the payload's
// free-form part: the roll-ups and series summarise it whenever it is a
// JSON number, so its range is checked like a column's. Other types at
// that path are free-form (a sensor may report an error there).
const PressureField = "payload.sensor.bmp280.pressure_hpa"

// MaxPayloadDepth is how deeply a payload may nest objects and arrays, the
// payload object itself being level 1. A firmware payload nests 3 levels
// (payload.sensor.bmp280); the limit is one rule for both backends, far
// below SQLite's json_valid limit (1,000 levels), which would otherwise
// refuse the commit of the whole batch while PostgreSQL took it.
const MaxPayloadDepth = 32

// ValidDeviceID reports whether id is an acceptable device id.
func ValidDeviceID(id string) bool { return thermowatt.ValidDeviceID(id) }

// wireReading is a reading as the scanner found it: the text of each
// field it has (nil when absent), so that a wrong type is reported against
// its own field with a clear message. A repeated field keeps its last
// value, and names match case-insensitively, as encoding/json has it.
type wireReading struct {
	deviceID, recordedAt, temperature, humidity, payload []byte
	// The power fields of payload, when the last payload is an object.
	voltageV, currentMA, powerMW []byte
	// pressure is the first number at PressureField (any of repeated
	// names) outside its range or not finite; nil when none is.
	pressure []byte
	// payloadDepth is how deeply the last payload object nests.
	payloadDepth int
	// unknownKey is the text of the first member that is not a reading
	// field, nil when there is none.
	unknownKey []byte
}

// readingFields and powerFields are the names the members are matched
// against, in the order of matchKey's results.
var (
	readingFields = []string{"deviceId", "recordedAt", "temperature", "humidity", "payload"}
	powerFields   = []string{"voltage_v", "current_ma", "power_mw"}
)

// reading reads the object at pos into w.
func (s *scanner) reading(w *wireReading) bool {
	return s.object(func(key []byte) bool {
		i := matchKey(key, readingFields)
		if i == 4 && s.skipSpaceAndPeek() == '{' {
			w.payload = nil
			w.voltageV, w.currentMA, w.powerMW, w.pressure = nil, nil, nil, nil
			start, base := s.pos, s.depth
			s.peak = base
			if !s.power(w) {
				return false
			}
			w.payload = s.data[start:s.pos]
			w.payloadDepth = s.peak - base
			return true
		}
		v, ok := s.value()
		switch i {
		case 0:
			w.deviceID = v
		case 1:
			w.recordedAt = v
		case 2:
			w.temperature = v
		case 3:
			w.humidity = v
		case 4:
			w.payload = v
			w.voltageV, w.currentMA, w.powerMW, w.pressure = nil, nil, nil, nil
		default:
			if w.unknownKey == nil {
				w.unknownKey = key
			}
		}
		return ok
	})
}

// power reads a payload object at pos, keeping the power fields and
// checking the pressure at sensor.bmp280.pressure_hpa.
func (s *scanner) power(w *wireReading) bool {
	return s.object(func(key []byte) bool {
		if keyIs(key, "sensor") && s.skipSpaceAndPeek() == '{' {
			return s.objectAt(w, []string{"bmp280", "pressure_hpa"})
		}
		v, ok := s.value()
		switch matchKey(key, powerFields) {
		case 0:
			w.voltageV = v
		case 1:
			w.currentMA = v
		case 2:
			w.powerMW = v
		}
		return ok
	})
}

// objectAt reads an object at pos, following path (exact member names, as
// the stores' JSON paths match them) down to the pressure; every member of
// that name is checked, since a backend may take the first or the last.
func (s *scanner) objectAt(w *wireReading, path []string) bool {
	return s.object(func(key []byte) bool {
		if !keyIs(key, path[0]) {
			_, ok := s.value()
			return ok
		}
		if len(path) > 1 {
			if s.skipSpaceAndPeek() == '{' {
				return s.objectAt(w, path[1:])
			}
			_, ok := s.value()
			return ok
		}
		v, ok := s.value()
		if ok && w.pressure == nil && len(v) > 0 && (v[0] == '-' || '0' <= v[0] && v[0] <= '9') {
			if _, _, ok := checkRange(PressureField, v); !ok {
				w.pressure = v
			}
		}
		return ok
	})
}

// keyIs reports whether a member name (a JSON string, quotes included) is
// exactly name once its escapes are decoded.
func keyIs(raw []byte, name string) bool {
	if inner, ok := plainString(raw); ok {
		return string(inner) == name
	}
	return unquoteKey(raw) == name
}

func (s *scanner) skipSpaceAndPeek() byte {
	s.skipSpace()
	return s.peek()
}

// validate checks a reading read by the scanner. On failure it returns the
// field and message of the first problem; the returned reading still
// carries the device id when that much was readable. The checks and their
// order are the API's: a client sees the first problem of its reading.
func (d *decoder) validate(w *wireReading) (r thermowatt.Reading, field, msg string) {
	if w.unknownKey != nil {
		field, msg = unknownField(w.unknownKey)
		return r, field, msg
	}

	if isNull(w.deviceID) {
		return r, "deviceId", "deviceId is required"
	}
	id, ok := d.deviceID(w.deviceID)
	if !ok {
		return r, "deviceId", "deviceId must be a string"
	}
	if !thermowatt.ValidDeviceID(id) {
		return r, "deviceId", "deviceId must be " + thermowatt.DeviceIDRule
	}
	r.DeviceID = id

	if isNull(w.recordedAt) {
		r.RecordedAt = d.now.UTC().Truncate(thermowatt.Precision)
		r.ServerTime = true
	} else {
		s, err := unquote(w.recordedAt)
		if err != nil {
			return r, "recordedAt", "recordedAt must be an RFC 3339 string such as 2025-02-05T09:30:00+09:00"
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return r, "recordedAt", unparsableTime(s)
		}
		if t.Before(Earliest) {
			return r, "recordedAt", fmt.Sprintf("recordedAt %s is before 2020-01-01: the device clock is probably not set (sync it by NTP before sending)", s)
		}
		if t.After(d.now.Add(MaxFuture)) {
			return r, "recordedAt", fmt.Sprintf("recordedAt %s is more than 10 minutes ahead of the server clock (%s)", s, d.now.UTC().Format(time.RFC3339))
		}
		r.RecordedAt = t.UTC().Truncate(thermowatt.Precision)
	}

	if r.Temperature, field, msg, ok = d.number("temperature", w.temperature); !ok {
		return r, field, msg
	}
	if r.Humidity, field, msg, ok = d.number("humidity", w.humidity); !ok {
		return r, field, msg
	}

	if isNull(w.payload) {
		return r, "", ""
	}
	if len(w.payload) > MaxPayloadSize {
		return r, "payload", fmt.Sprintf("payload is %d bytes; the maximum is %d", len(w.payload), MaxPayloadSize)
	}
	if w.payload[0] != '{' {
		return r, "payload", "payload must be a JSON object"
	}
	if w.payloadDepth > MaxPayloadDepth {
		return r, "payload", depthMessage(w.payloadDepth)
	}
	if r.VoltageV, field, msg, ok = d.number("payload.voltage_v", w.voltageV); !ok {
		return r, field, msg
	}
	if r.CurrentMA, field, msg, ok = d.number("payload.current_ma", w.currentMA); !ok {
		return r, field, msg
	}
	if r.PowerMW, field, msg, ok = d.number("payload.power_mw", w.powerMW); !ok {
		return r, field, msg
	}
	if w.pressure != nil {
		_, msg, _ = checkRange(PressureField, w.pressure)
		return r, PressureField, msg
	}
	compact, err := compactJSON(w.payload)
	if err != nil {
		return r, "payload", "payload is not valid JSON"
	}
	if msg := unstorableText(compact); msg != "" {
		return r, "payload", msg
	}
	r.Payload = compact
	return r, "", ""
}

// unknownField words the rejection of a member a reading may not have
// exactly as the encoding/json decoder before this one did: it read the
// name back out of encoding/json's error text.
func unknownField(key []byte) (field, msg string) {
	text := fmt.Sprintf("json: unknown field %q", unquoteKey(key))
	var name string
	if _, err := fmt.Sscanf(text, "json: unknown field %q", &name); err == nil {
		return name, fmt.Sprintf("unknown field %q: put extra data inside payload", name)
	}
	return "", "not a valid reading object: " + text
}

// number parses an optional number field and checks its documented range.
func (d *decoder) number(field string, raw []byte) (v *float64, f, msg string, ok bool) {
	if isNull(raw) {
		return nil, "", "", true
	}
	if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return nil, field, field + " must be a number or null", false
	}
	x, msg, ok := checkRange(field, raw)
	if !ok {
		return nil, field, msg, false
	}
	return d.float(x), "", "", true
}

// checkRange parses the JSON number raw and checks it against field's
// documented range.
func checkRange(field string, raw []byte) (x float64, msg string, ok bool) {
	x, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, field + " must be a finite number or null", false
	}
	lim := ranges[field]
	if x < lim[0] || x > lim[1] {
		return 0, fmt.Sprintf("%s %v is outside the accepted range %v to %v %s", field, x, lim[0], lim[1], unit(field)), false
	}
	return x, "", true
}

// depthMessage refuses a payload nested depth levels deep.
func depthMessage(depth int) string {
	return fmt.Sprintf("payload nests objects and arrays %d levels deep; the maximum is %d (the payload object is level 1): flatten it", depth, MaxPayloadDepth)
}

// unparsableTime says why s is not a recordedAt. A leap second (23:59:60)
// is valid RFC 3339 but has no instant of its own in UTC as Go and both
// databases count time, so it gets its own words rather than "not RFC 3339".
func unparsableTime(s string) string {
	if len(s) >= 19 && s[10] == 'T' && s[16] == ':' && s[17:19] == "60" {
		if _, err := time.Parse(time.RFC3339Nano, s[:17]+"59"+s[19:]); err == nil {
			return fmt.Sprintf("recordedAt %q is a leap second (:60), which cannot be stored: send :59.999999 or the next second instead", s)
		}
	}
	return fmt.Sprintf("recordedAt %q is not RFC 3339 with a time-zone offset (e.g. 2025-02-05T09:30:00+09:00 or ...Z)", s)
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
	case PressureField:
		return "hPa"
	}
	return "mW"
}

func isNull(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}
