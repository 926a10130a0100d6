package wire

import (
	"time"

	"github.com/thermowatt/thermowatt"
)

// SettingsSet is one scope's settings: the fleet default, or a device's own.
type SettingsSet struct {
	Rev       int64               `json:"rev"`
	Settings  thermowatt.Settings `json:"settings"`
	UpdatedAt *time.Time          `json:"updatedAt"`
}

// EffectiveSettings is what a device should apply (its own settings over
// the fleet default), also what GET /api/device/settings answers the
// device itself.
type EffectiveSettings struct {
	Rev      int64               `json:"rev"`
	Settings thermowatt.Settings `json:"settings"`
}

// DeviceSettings is what an admin sees of one device's settings: its own,
// what it should apply, and the revision it reports having applied.
type DeviceSettings struct {
	DeviceID string `json:"deviceId"`
	SettingsSet
	Effective  EffectiveSettings `json:"effective"`
	AppliedRev *int64            `json:"appliedRev"`
}

// Rollout is a firmware rollout as the API shows it.
type Rollout struct {
	ID        int64     `json:"id"`
	Version   string    `json:"version"`
	All       bool      `json:"all"`
	Devices   []string  `json:"devices"`
	Paused    bool      `json:"paused"`
	CreatedAt time.Time `json:"createdAt"`
}
