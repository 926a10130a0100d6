package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

func toRolloutJSON(r thermowatt.Rollout) wire.Rollout {
	devices := r.Devices
	if devices == nil {
		devices = []string{}
	}
	return wire.Rollout{ID: r.ID, Version: r.Version, All: r.All, Devices: devices, Paused: r.Paused, CreatedAt: r.CreatedAt.UTC()}
}

// handleCreateRollout assigns a version to some devices or to all:
// {"version":"1.4.0","devices":["a","b"]} or {"version":"1.4.0","all":true}.
func handleCreateRollout(st store.Rollouts, desired *desiredCache, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Version string   `json:"version"`
			Devices []string `json:"devices"`
			All     bool     `json:"all"`
		}
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if !thermowatt.ValidFirmwareVersion(in.Version) {
			return errorf(http.StatusBadRequest, fmt.Sprintf("version %q must be %s", in.Version, thermowatt.FirmwareVersionRule))
		}
		if in.All == (len(in.Devices) > 0) {
			return errorf(http.StatusBadRequest, `name the devices ("devices":["id",...]) or all of them ("all":true), not both or neither`)
		}
		for _, id := range in.Devices {
			if !thermowatt.ValidDeviceID(id) {
				return errorf(http.StatusBadRequest, fmt.Sprintf("device id %q must be %s", id, thermowatt.DeviceIDRule))
			}
		}
		ro, err := st.CreateRollout(r.Context(), thermowatt.Rollout{Version: in.Version, Devices: in.Devices, All: in.All}, now())
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("%v: publish the release (POST /api/firmware) and register the devices first", err))
		}
		if err != nil {
			return storeError(err)
		}
		desired.invalidate()
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "rollout started",
			"rollout", ro.ID, "version", ro.Version, "all", ro.All, "devices", len(ro.Devices))
		writeJSON(w, http.StatusCreated, toRolloutJSON(ro))
		return nil
	})
}

// handlePatchRollout pauses or resumes a rollout: {"paused":true}.
func handlePatchRollout(st store.Rollouts, desired *desiredCache) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id < 1 {
			return errorf(http.StatusNotFound, fmt.Sprintf("no rollout %q", r.PathValue("id")))
		}
		var in struct {
			Paused *bool `json:"paused"`
		}
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if in.Paused == nil {
			return errorf(http.StatusBadRequest, `nothing to change: send {"paused": true} or {"paused": false}`)
		}
		ro, err := st.SetRolloutPaused(r.Context(), id, *in.Paused)
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no rollout %d (GET /api/rollouts lists them)", id))
		}
		if err != nil {
			return storeError(err)
		}
		desired.invalidate()
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "rollout paused", "rollout", id, "paused", *in.Paused)
		writeJSON(w, http.StatusOK, toRolloutJSON(ro))
		return nil
	})
}

func handleListRollouts(st store.Rollouts) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rs, err := st.ListRollouts(r.Context())
		if err != nil {
			return storeError(err)
		}
		items := make([]wire.Rollout, len(rs))
		for i, ro := range rs {
			items[i] = toRolloutJSON(ro)
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
		return nil
	})
}
