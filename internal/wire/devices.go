package wire

import (
	"encoding/json"
	"time"
)

// The admin API's bodies (this file, tokens.go, fleet.go, alerts.go,
// jobs.go) are defined once, here: the server (internal/httpapi) encodes
// them and its clients (internal/apiclient) decode them. api/openapi.yaml
// is the contract they follow; the HTTP tests validate every answer
// against it.

// Items is the answer of a list endpoint: {"items": [...]}.
type Items[T any] struct {
	Items []T `json:"items"`
}

// Device is a device as GET /api/devices lists it.
type Device struct {
	ID           string     `json:"id"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastSeenAt   *time.Time `json:"lastSeenAt"`
	ReadingCount int64      `json:"readingCount"`
	// Operations: status is new, ok, silent or failing.
	Status            string          `json:"status"`
	ExpectedIntervalS int             `json:"expectedIntervalS"`
	Health            json.RawMessage `json:"health"`
	HealthAt          *time.Time      `json:"healthAt"`
	RejectedCount     int64           `json:"rejectedCount"`
	AuthFailures      int64           `json:"authFailures"`
	// The fleet: the firmware it reports running, the settings revision
	// it applied against the one it should, and its last update as it
	// reported it.
	Firmware    *string         `json:"firmware"`
	SettingsRev SettingsRev     `json:"settingsRev"`
	Update      json.RawMessage `json:"update"`
	// CA rotation: the CA it verifies the server with and the one
	// waiting to take over, as it reported them (null: none reported).
	CA *DeviceCA `json:"ca"`
}

// SettingsRev is the settings revision a device applied and the one it should.
type SettingsRev struct {
	Applied *int64 `json:"applied"`
	Desired int64  `json:"desired"`
}

// DeviceCA is a device's CAs as it reported them: the sha256 of each DER
// in full (64 hex digits), null for none.
type DeviceCA struct {
	Active  *string `json:"active"`
	Waiting *string `json:"waiting"`
}
