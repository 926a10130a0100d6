package thermowatt

import (
	"encoding/json"
	"time"
)

// Device is a registered sensor node.
type Device struct {
	ID           string
	CreatedAt    time.Time
	LastSeenAt   *time.Time // receive time of its newest accepted reading
	ReadingCount int64
	// ExpectedIntervalS is how often it should send, in seconds.
	ExpectedIntervalS int
	// Health is payload.device of its newest reading that carried one
	// (what the device says about itself), and HealthAt that reading's
	// recordedAt.
	Health   json.RawMessage
	HealthAt *time.Time
	// Failures is what the server counted against it lately.
	Failures Failures
	// Failing is true while a failing alert is open for it, and
	// SilentAlertOpen and UpdateAlertOpen while a silent or update one is.
	Failing         bool
	SilentAlertOpen bool
	UpdateAlertOpen bool
	// SettingsRev is the revision of the settings it should apply
	// (EffectiveSettings.Rev), 0 when none were ever set.
	SettingsRev int64
}

// Failures are what the server counted against one device.
type Failures struct {
	Rejected     int64 // readings of the device refused as invalid
	AuthFailures int64 // requests with its token refused (403)
}
