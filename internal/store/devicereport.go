package store

import (
	"bytes"
	"encoding/json"
)

// deviceKey is a cheap pre-filter: only payloads containing it are parsed
// for a payload.device health report.
var deviceKey = []byte(`"device"`)

// DeviceReport is payload.device when it is a JSON object: a device's
// latest health is that of its newest stored reading carrying one, and a
// "device" that is not an object is ignored (health never fails a batch).
// PostgreSQL's insert statement decides the same in SQL
// (jsonb_typeof(payload->'device') = 'object'); its COPY path and SQLite
// decide here.
func DeviceReport(payload json.RawMessage) (string, bool) {
	if payload == nil || !bytes.Contains(payload, deviceKey) {
		return "", false
	}
	var p struct {
		Device json.RawMessage `json:"device"`
	}
	if json.Unmarshal(payload, &p) != nil || len(p.Device) == 0 || p.Device[0] != '{' {
		return "", false
	}
	return string(p.Device), true
}
