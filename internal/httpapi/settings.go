package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/effective"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

func toSettingsJSON(s thermowatt.SettingsSet) wire.SettingsSet {
	if s.Values == nil {
		s.Values = thermowatt.Settings{}
	}
	return wire.SettingsSet{Rev: s.Rev, Settings: s.Values, UpdatedAt: s.UpdatedAt}
}

// decodeSettings reads a settings object from a PUT body. A key set to
// null is left out, which is how a PUT removes it.
func decodeSettings(r *http.Request) (thermowatt.Settings, error) {
	var in thermowatt.Settings
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, errorf(http.StatusBadRequest, `send the settings as a JSON object, e.g. {"interval_s": 600}`)
	}
	for k, v := range in {
		if v == nil {
			delete(in, k)
		}
	}
	if err := in.Validate(); err != nil {
		return nil, errorf(http.StatusBadRequest, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return in, nil
}

func handleGetFleetSettings(st store.Settings) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		s, err := st.FleetSettings(r.Context())
		if err != nil {
			return storeError(err)
		}
		writeJSON(w, http.StatusOK, toSettingsJSON(s))
		return nil
	})
}

// settingsProblem answers an effective-settings refusal with 400.
func settingsProblem(err error) error {
	var p *effective.Problem
	if errors.As(err, &p) {
		return errorf(http.StatusBadRequest, p.Msg)
	}
	return storeError(err)
}

// handlePutFleetSettings replaces the fleet default: every device's
// desired revision moves, and the interval of each that has no interval_s
// of its own.
func handlePutFleetSettings(st store.SettingsAndDevices, desired *desiredCache, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decodeSettings(r)
		if err != nil {
			return err
		}
		if err := effective.CheckFleet(r.Context(), st, in); err != nil {
			return settingsProblem(err)
		}
		rev, err := st.SetFleetSettings(r.Context(), in, now())
		if err != nil {
			return storeError(err)
		}
		desired.invalidate()
		if err := store.FollowIntervals(r.Context(), st); err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "fleet settings set", "rev", rev)
		s, err := st.FleetSettings(r.Context())
		if err != nil {
			return storeError(err)
		}
		writeJSON(w, http.StatusOK, toSettingsJSON(s))
		return nil
	})
}

func toEffectiveJSON(e thermowatt.EffectiveSettings) wire.EffectiveSettings {
	if e.Values == nil {
		e.Values = thermowatt.Settings{}
	}
	return wire.EffectiveSettings{Rev: e.Rev, Settings: e.Values}
}

// settingsStore is what the per-device settings endpoints read: the
// settings, and the device's health for the revision it applied.
type settingsStore interface {
	store.Settings
	store.Devices
}

func deviceSettings(r *http.Request, st settingsStore, id string) (wire.DeviceSettings, error) {
	own, err := st.DeviceSettings(r.Context(), id)
	if errors.Is(err, thermowatt.ErrNotFound) {
		return wire.DeviceSettings{}, errorf(http.StatusNotFound, fmt.Sprintf("no device %q; register it with POST /api/devices", id))
	}
	if err != nil {
		return wire.DeviceSettings{}, storeError(err)
	}
	eff, err := st.EffectiveSettings(r.Context(), id)
	if err != nil {
		return wire.DeviceSettings{}, storeError(err)
	}
	dv, err := st.GetDevice(r.Context(), id)
	if err != nil {
		return wire.DeviceSettings{}, storeError(err)
	}
	return wire.DeviceSettings{DeviceID: id, SettingsSet: toSettingsJSON(own), Effective: toEffectiveJSON(eff),
		AppliedRev: parseFleetHealth(dv.Health).SettingsRev}, nil
}

func handleGetDeviceSettings(st settingsStore) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		out, err := deviceSettings(r, st, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
}

// handlePutDeviceSettings replaces a device's own settings.
func handlePutDeviceSettings(st settingsStore, desired *desiredCache, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		in, err := decodeSettings(r)
		if err != nil {
			return err
		}
		if err := effective.CheckDevice(r.Context(), st, id, in); err != nil {
			return settingsProblem(err)
		}
		rev, err := st.SetDeviceSettings(r.Context(), id, in, now())
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no device %q; register it with POST /api/devices", id))
		}
		if err != nil {
			return storeError(err)
		}
		desired.invalidate()
		if err := store.FollowInterval(r.Context(), st, id); err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "device settings set", "device", id, "rev", rev)
		out, err := deviceSettings(r, st, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
}

// handleOwnSettings answers a device with the settings it should apply:
// {"rev":N,"settings":{...}}.
func handleOwnSettings(st store.Settings) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id := principal(r).DeviceID
		eff, err := st.EffectiveSettings(r.Context(), id)
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("device %q is not registered", id))
		}
		if err != nil {
			return storeError(err)
		}
		writeJSON(w, http.StatusOK, toEffectiveJSON(eff))
		return nil
	})
}

// fleetHealth is what the fleet view reads of a device's own report
// (payload.device): the firmware it runs, the settings revision it
// applied, and the state of its last update. A field of the wrong type
// is left out rather than failing the list.
type fleetHealth struct {
	Firmware    *string
	SettingsRev *int64
	Update      json.RawMessage // an object, or nil
	CA          *wire.DeviceCA  // nil when the device reports none
}

func toCAJSON(health json.RawMessage) *wire.DeviceCA {
	ca, ok := thermowatt.HealthCA(health)
	if !ok {
		return nil
	}
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return &wire.DeviceCA{Active: orNull(ca.Active), Waiting: orNull(ca.Waiting)}
}

func parseFleetHealth(raw json.RawMessage) fleetHealth {
	var h struct {
		Firmware    any             `json:"firmware"`
		SettingsRev any             `json:"settings_rev"`
		Update      json.RawMessage `json:"update"`
	}
	var out fleetHealth
	if json.Unmarshal(raw, &h) != nil {
		return out
	}
	if s, ok := h.Firmware.(string); ok {
		out.Firmware = &s
	}
	if f, ok := h.SettingsRev.(float64); ok && f == float64(int64(f)) {
		n := int64(f)
		out.SettingsRev = &n
	}
	if len(h.Update) > 0 && h.Update[0] == '{' {
		out.Update = h.Update
	}
	out.CA = toCAJSON(raw)
	return out
}
