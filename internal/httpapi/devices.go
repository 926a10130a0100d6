package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

func handleListDevices(devices store.Devices, view deviceView) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		now := view.now()
		items := []wire.Device{}
		err := store.EachDevice(r.Context(), devices, func(dv thermowatt.Device) error {
			items = append(items, view.json(dv, now))
			return nil
		})
		if err != nil {
			return storeError(err)
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
		return nil
	})
}

// handleCreateDevice registers a device and answers with its first token.
func handleCreateDevice(devices store.SettingsAndDevices, iss tokenIssuer) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			ID string `json:"id"`
		}
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if !thermowatt.ValidDeviceID(in.ID) {
			return errorf(http.StatusBadRequest, "id must be "+thermowatt.DeviceIDRule)
		}
		_, err := devices.CreateDevice(r.Context(), in.ID, iss.now())
		if errors.Is(err, thermowatt.ErrExists) {
			return errorf(http.StatusConflict, fmt.Sprintf("device %q already exists; to give it another token use POST /api/devices/%s/tokens", in.ID, in.ID))
		}
		if err != nil {
			return storeError(err)
		}
		// Its interval is the fleet default's interval_s from the start.
		if err := store.FollowInterval(r.Context(), devices, in.ID); err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "device registered", "device", in.ID)
		tok, err := iss.issue(r, thermowatt.ScopeDevice, in.ID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, wire.RegisteredDevice{ID: in.ID, Token: tok.Token, TokenID: tok.ID, Scope: tok.Scope, DeviceID: in.ID})
		return nil
	})
}

// handleCreateDeviceToken gives a registered device another token, for
// rotation: issue the new one, flash it, then revoke the old one.
func handleCreateDeviceToken(devices store.Devices, iss tokenIssuer) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if _, err := devices.GetDevice(r.Context(), id); errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no device %q; register it with POST /api/devices", id))
		} else if err != nil {
			return storeError(err)
		}
		tok, err := iss.issue(r, thermowatt.ScopeDevice, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, tok)
		return nil
	})
}

// tokenIssuer mints tokens and stores their hashes.
type tokenIssuer struct {
	tokens store.Tokens
	now    func() time.Time
}

// issue creates and stores a token, and logs who made it.
func (iss tokenIssuer) issue(r *http.Request, scope thermowatt.Scope, deviceID string) (wire.IssuedToken, error) {
	secret, t, err := auth.New(scope, deviceID, iss.now())
	if err != nil {
		return wire.IssuedToken{}, err
	}
	if err := iss.tokens.CreateToken(r.Context(), t); err != nil {
		return wire.IssuedToken{}, storeError(err)
	}
	logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "token issued",
		"token", t.ID, "scope", scope, "device", deviceID)
	return wire.IssuedToken{ID: t.ID, Token: secret, Scope: scope, DeviceID: deviceID}, nil
}
