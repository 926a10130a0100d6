package wire

// Reading is one reading as clients send it: the firmware's shape
// (esp32/lib/reading.py), field for field. Backfill and simulate encode
// it; the server decodes the same text with Decode.
type Reading struct {
	DeviceID    string   `json:"deviceId"`
	RecordedAt  string   `json:"recordedAt"` // RFC 3339 with offset
	Temperature *float64 `json:"temperature"`
	Humidity    *float64 `json:"humidity"`
	Payload     Payload  `json:"payload"`
}

// Payload is what a reading carries beyond its columns. The server copies
// the power fields into columns and keeps the whole object.
type Payload struct {
	VoltageV  *float64 `json:"voltage_v,omitempty"`
	CurrentMA *float64 `json:"current_ma,omitempty"`
	PowerMW   *float64 `json:"power_mw,omitempty"`
	Sensor    *Sensor  `json:"sensor,omitempty"`
	// Device rides on the last reading of a batch only, as the firmware
	// sends it, to keep batches small.
	Device *Health `json:"device,omitempty"`
	// Source marks readings that did not come live from a device.
	Source string `json:"source,omitempty"`
}

// Sensor holds each sensor's own report, free-form: what it measured,
// its settings, or the error it gave instead.
type Sensor struct {
	BMP280 map[string]any `json:"bmp280,omitempty"`
	INA219 map[string]any `json:"ina219,omitempty"`
}

// Health is what a device says about itself (payload.device); the
// dashboard shows it and the alert rules read it.
type Health struct {
	Firmware     string  `json:"firmware"`
	UptimeS      int64   `json:"uptime_s"`
	FreeHeap     int     `json:"free_heap"`
	RSSIdBm      int     `json:"rssi_dbm"`
	QueueDepth   int     `json:"queue_depth"`
	Dropped      int     `json:"dropped"`
	DeadLettered int     `json:"dead_lettered"`
	LastError    *string `json:"last_error"`
	ResetCause   string  `json:"reset_cause"`
	Boot         int     `json:"boot"`
	// CA names the CAs the device verifies the server with (CA rotation,
	// docs/fleet.md); nil when it does not verify TLS (no ca_cert), and
	// absent from firmware older than this report.
	CA *HealthCA `json:"ca,omitempty"`
}

// HealthCA is payload.device.ca: fingerprints (sha256 of the DER, 64
// lower-case hex digits; thermowatt.CAFingerprint) of the CA in use and
// of the one a release delivered that waits to take over (nil: none).
type HealthCA struct {
	Active  string  `json:"active"`
	Waiting *string `json:"waiting"`
}
