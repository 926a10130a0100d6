package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt"
)

// maxIntervalS bounds a device's expected interval: 30 days.
const maxIntervalS = 30 * 24 * 3600

func toDeviceJSON(dv thermowatt.Device, now time.Time, d Deps) deviceJSON {
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
		Status: string(dv.Status(now, d.Policy.MissedIntervals)), ExpectedIntervalS: dv.ExpectedIntervalS,
		Health: health, HealthAt: dv.HealthAt, RejectedCount: dv.Failures.Rejected, AuthFailures: dv.Failures.AuthFailures,
		Firmware: fleet.Firmware, SettingsRev: settingsRevJSON{Applied: fleet.SettingsRev, Desired: dv.SettingsRev}, Update: update}
}

// handlePatchDevice changes a device's settings; today its expected
// interval: {"expectedIntervalS": 60}.
func handlePatchDevice(d Deps) http.Handler {
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
		err := d.Store.SetExpectedInterval(r.Context(), id, *in.ExpectedIntervalS)
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no device %q; register it with POST /api/devices", id))
		}
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "device interval set",
			"device", id, "expectedIntervalS", *in.ExpectedIntervalS)
		dv, err := d.Store.GetDevice(r.Context(), id)
		if err != nil {
			return storeError(err)
		}
		writeJSON(w, http.StatusOK, toDeviceJSON(dv, d.Now(), d))
		return nil
	})
}
