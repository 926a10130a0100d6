package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/store"
)

type deviceJSON struct {
	ID           string     `json:"id"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastSeenAt   *time.Time `json:"lastSeenAt"`
	ReadingCount int64      `json:"readingCount"`
	// Operations (devices_ops.go): status is new, ok, silent or failing.
	Status            string          `json:"status"`
	ExpectedIntervalS int             `json:"expectedIntervalS"`
	Health            json.RawMessage `json:"health"`
	HealthAt          *time.Time      `json:"healthAt"`
	RejectedCount     int64           `json:"rejectedCount"`
	AuthFailures      int64           `json:"authFailures"`
	// The fleet (settings.go): the firmware it reports running, the
	// settings revision it applied against the one it should, and its
	// last update as it reported it.
	Firmware    *string         `json:"firmware"`
	SettingsRev settingsRevJSON `json:"settingsRev"`
	Update      json.RawMessage `json:"update"`
	// CA rotation: the CA it verifies the server with and the one
	// waiting to take over, as it reported them (null: none reported).
	CA *caJSON `json:"ca"`
}

type settingsRevJSON struct {
	Applied *int64 `json:"applied"`
	Desired int64  `json:"desired"`
}

func handleListDevices(devices store.Devices, view deviceView) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		now := view.now()
		items := []deviceJSON{}
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

// issuedToken is the one answer that ever contains a token's secret.
type issuedToken struct {
	ID       string           `json:"id"`
	Token    string           `json:"token"`
	Scope    thermowatt.Scope `json:"scope"`
	DeviceID string           `json:"deviceId,omitempty"`
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
		writeJSON(w, http.StatusCreated, map[string]string{
			"id": in.ID, "token": tok.Token, "tokenId": tok.ID, "scope": string(tok.Scope), "deviceId": in.ID})
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
func (iss tokenIssuer) issue(r *http.Request, scope thermowatt.Scope, deviceID string) (issuedToken, error) {
	secret, t, err := auth.New(scope, deviceID, iss.now())
	if err != nil {
		return issuedToken{}, err
	}
	if err := iss.tokens.CreateToken(r.Context(), t); err != nil {
		return issuedToken{}, storeError(err)
	}
	logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "token issued",
		"token", t.ID, "scope", scope, "device", deviceID)
	return issuedToken{ID: t.ID, Token: secret, Scope: scope, DeviceID: deviceID}, nil
}
