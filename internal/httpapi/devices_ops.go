package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// maxIntervalS bounds a device's expected interval: 30 days.
const maxIntervalS = 30 * 24 * 3600

// deviceView is what a device's JSON needs beyond the device: the clock
// and after how many missed intervals a device is silent.
type deviceView struct {
	now    func() time.Time
	missed int
}

func (v deviceView) json(dv thermowatt.Device, now time.Time) deviceJSON {
	health := dv.Health
	if len(health) == 0 {
		health = json.RawMessage("null")
	}
	fleet := parseFleetHealth(dv.Health)
	update := fleet.Update
	if update == nil {
		update = json.RawMessage("null")
	}
	return deviceJSON{ID: dv.ID, CreatedAt: dv.CreatedAt.UTC(), LastSeenAt: dv.LastSeenAt, ReadingCount: dv.ReadingCount,
		Status: string(dv.Status(now, v.missed)), ExpectedIntervalS: dv.ExpectedIntervalS,
		Health: health, HealthAt: dv.HealthAt, RejectedCount: dv.Failures.Rejected, AuthFailures: dv.Failures.AuthFailures,
		Firmware: fleet.Firmware, SettingsRev: settingsRevJSON{Applied: fleet.SettingsRev, Desired: dv.SettingsRev}, Update: update,
		CA: fleet.CA}
}

// handlePatchDevice changes a device's settings; today its expected
// interval: {"expectedIntervalS": 60}.
func handlePatchDevice(devices store.Devices, view deviceView) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		var in struct {
			ExpectedIntervalS *int `json:"expectedIntervalS"`
		}
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if in.ExpectedIntervalS == nil {
			return errorf(http.StatusBadRequest, `nothing to change: send {"expectedIntervalS": seconds}`)
		}
		if s := *in.ExpectedIntervalS; s < 1 || s > maxIntervalS {
			return errorf(http.StatusBadRequest, fmt.Sprintf("expectedIntervalS must be from 1 to %d seconds", maxIntervalS))
		}
		if !thermowatt.ValidDeviceID(id) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no device %q", id))
		}
		err := devices.SetExpectedInterval(r.Context(), id, *in.ExpectedIntervalS)
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no device %q; register it with POST /api/devices", id))
		}
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "device interval set",
			"device", id, "expectedIntervalS", *in.ExpectedIntervalS)
		dv, err := devices.GetDevice(r.Context(), id)
		if err != nil {
			return storeError(err)
		}
		writeJSON(w, http.StatusOK, view.json(dv, view.now()))
		return nil
	})
}
