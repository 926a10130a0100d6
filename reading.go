package thermowatt

import (
	"encoding/json"
	"time"
)

// Reading is one measurement of one device at one instant. A reading is
// identified by (DeviceID, RecordedAt): storing it twice is a duplicate,
// which is what makes device retries safe.
type Reading struct {
	DeviceID string
	// RecordedAt is the device's clock, truncated to microseconds so that
	// both backends agree on the identity of a reading.
	RecordedAt time.Time
	// ServerTime is true when the device sent no recordedAt and the
	// server's receive time was used instead.
	ServerTime  bool
	Temperature *float64 // °C
	Humidity    *float64 // % relative humidity
	VoltageV    *float64 // volts, copied from payload.voltage_v
	CurrentMA   *float64 // milliamperes, copied from payload.current_ma
	PowerMW     *float64 // milliwatts, copied from payload.power_mw
	// Payload is the reading's payload object as compact JSON, nil when
	// the device sent none. Unknown fields are kept.
	Payload json.RawMessage
	// ReceivedAt is the server's clock when the request carrying the
	// reading arrived. On the way in it may be left zero: the store then
	// uses the receivedAt its caller gives for the whole call. A group
	// commit sets it, so that each request's readings keep their own
	// request's time when several requests share one commit.
	ReceivedAt time.Time
}

// Stored is a reading as the store holds it.
type Stored struct {
	ID int64
	Reading
}

// Precision is the resolution at which timestamps are stored.
const Precision = time.Microsecond

// DeviceIDRule says what a device id may be, for error messages. "." and
// ".." are refused because a device's id is a segment of its URLs
// (/api/devices/{id}), where they would name another resource.
const DeviceIDRule = `1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-', other than "." and ".."`

// ValidDeviceID reports whether id follows DeviceIDRule (a loop is several
// times cheaper than a regexp; ingest checks every reading's id).
func ValidDeviceID(id string) bool {
	if len(id) < 1 || len(id) > 64 || id == "." || id == ".." {
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
