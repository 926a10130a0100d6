package httpapi

import (
	"encoding/json"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// deviceView is what a device's JSON needs beyond the device: the clock
// and after how many missed intervals a device is silent.
type deviceView struct {
	now    func() time.Time
	missed int
}

func (v deviceView) json(dv thermowatt.Device, now time.Time) wire.Device {
	health := dv.Health
	if len(health) == 0 {
		health = json.RawMessage("null")
	}
	fleet := parseFleetHealth(dv.Health)
	update := fleet.Update
	if update == nil {
		update = json.RawMessage("null")
	}
	return wire.Device{ID: dv.ID, CreatedAt: dv.CreatedAt.UTC(), LastSeenAt: dv.LastSeenAt, ReadingCount: dv.ReadingCount,
		Status: string(dv.Status(now, v.missed)), ExpectedIntervalS: dv.ExpectedIntervalS,
		Health: health, HealthAt: dv.HealthAt, RejectedCount: dv.Failures.Rejected, AuthFailures: dv.Failures.AuthFailures,
		Firmware: fleet.Firmware, SettingsRev: wire.SettingsRev{Applied: fleet.SettingsRev, Desired: dv.SettingsRev}, Update: update,
		CA: fleet.CA}
}
