package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// Admin is the client of the admin API: every admin command of the CLI
// (device, token, settings, rollout, alerts, retention) goes through it,
// so that an operator needs only the service's URL and an admin token,
// never a shell next to the database. Unlike Client, it never retries:
// a person is waiting and reads the error.
type Admin struct {
	BaseURL string // e.g. https://thermowatt.onrender.com, without a trailing slash
	Token   string // an admin token
	HTTP    *http.Client
}

// APIError is an answer other than the one expected, with the server's
// own message.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: the server answered %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// IsStatus reports whether err is an APIError with the given status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

var adminHTTP = &http.Client{Timeout: 2 * time.Minute}

// Do sends in (JSON, when not nil) and decodes a 2xx answer into out (when
// not nil). Any other answer is an *APIError carrying the server's message.
func (a *Admin) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	base := strings.TrimRight(a.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return fmt.Errorf("the server URL %q: %w", a.BaseURL, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	hc := a.HTTP
	if hc == nil {
		hc = adminHTTP
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is the server at %s up?)", method, path, err, base)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return &APIError{Method: method, Path: path, Status: res.StatusCode, Message: errorMessage(res, raw)}
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON expected (%v); is %s a thermowatt server?", method, path, err, base)
	}
	return nil
}

// errorMessage is the server's {"error": ...}, or what a proxy answered.
func errorMessage(res *http.Response, raw []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		msg := e.Error
		if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
			msg += " (THERMOWATT_TOKEN must be an admin token)"
		}
		return msg
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = res.Status
	}
	return s
}

// CreateDevice registers a device and returns its first token.
func (a *Admin) CreateDevice(ctx context.Context, id string) (wire.IssuedToken, error) {
	var out wire.RegisteredDevice
	err := a.Do(ctx, "POST", "/api/devices", map[string]string{"id": id}, &out)
	return wire.IssuedToken{ID: out.TokenID, Token: out.Token, Scope: out.Scope, DeviceID: out.DeviceID}, err
}

// CreateDeviceToken gives a registered device another token.
func (a *Admin) CreateDeviceToken(ctx context.Context, id string) (wire.IssuedToken, error) {
	var out wire.IssuedToken
	err := a.Do(ctx, "POST", "/api/devices/"+url.PathEscape(id)+"/tokens", struct{}{}, &out)
	return out, err
}

// Devices lists every device.
func (a *Admin) Devices(ctx context.Context) ([]wire.Device, error) {
	var out wire.Items[wire.Device]
	err := a.Do(ctx, "GET", "/api/devices", nil, &out)
	return out.Items, err
}

// Tokens lists every token.
func (a *Admin) Tokens(ctx context.Context) ([]wire.Token, error) {
	var out wire.Items[wire.Token]
	err := a.Do(ctx, "GET", "/api/tokens", nil, &out)
	return out.Items, err
}

// CreateToken issues a reader or admin token.
func (a *Admin) CreateToken(ctx context.Context, scope thermowatt.Scope) (wire.IssuedToken, error) {
	var out wire.IssuedToken
	err := a.Do(ctx, "POST", "/api/tokens", map[string]thermowatt.Scope{"scope": scope}, &out)
	return out, err
}

// RevokeToken revokes a token by its public id.
func (a *Admin) RevokeToken(ctx context.Context, id string) error {
	return a.Do(ctx, "DELETE", "/api/tokens/"+url.PathEscape(id), nil, nil)
}

// FleetSettings returns the fleet default.
func (a *Admin) FleetSettings(ctx context.Context) (wire.SettingsSet, error) {
	var out wire.SettingsSet
	err := a.Do(ctx, "GET", "/api/settings", nil, &out)
	return out, err
}

// SetFleetSettings replaces the fleet default.
func (a *Admin) SetFleetSettings(ctx context.Context, s thermowatt.Settings) (wire.SettingsSet, error) {
	var out wire.SettingsSet
	err := a.Do(ctx, "PUT", "/api/settings", nonNil(s), &out)
	return out, err
}

// DeviceSettings returns a device's own and effective settings.
func (a *Admin) DeviceSettings(ctx context.Context, id string) (wire.DeviceSettings, error) {
	var out wire.DeviceSettings
	err := a.Do(ctx, "GET", "/api/devices/"+url.PathEscape(id)+"/settings", nil, &out)
	return out, err
}

// SetDeviceSettings replaces a device's own settings.
func (a *Admin) SetDeviceSettings(ctx context.Context, id string, s thermowatt.Settings) (wire.DeviceSettings, error) {
	var out wire.DeviceSettings
	err := a.Do(ctx, "PUT", "/api/devices/"+url.PathEscape(id)+"/settings", nonNil(s), &out)
	return out, err
}

func nonNil(s thermowatt.Settings) thermowatt.Settings {
	if s == nil {
		return thermowatt.Settings{}
	}
	return s
}

// StartRollout assigns a published version to devices, or to all.
func (a *Admin) StartRollout(ctx context.Context, version string, devices []string, all bool) (wire.Rollout, error) {
	in := struct {
		Version string   `json:"version"`
		Devices []string `json:"devices,omitempty"`
		All     bool     `json:"all"`
	}{version, devices, all}
	var out wire.Rollout
	err := a.Do(ctx, "POST", "/api/rollouts", in, &out)
	return out, err
}

// SetRolloutPaused pauses or resumes a rollout.
func (a *Admin) SetRolloutPaused(ctx context.Context, id int64, paused bool) (wire.Rollout, error) {
	var out wire.Rollout
	err := a.Do(ctx, "PATCH", fmt.Sprintf("/api/rollouts/%d", id), map[string]bool{"paused": paused}, &out)
	return out, err
}

// Rollouts lists every rollout, newest first.
func (a *Admin) Rollouts(ctx context.Context) ([]wire.Rollout, error) {
	var out wire.Items[wire.Rollout]
	err := a.Do(ctx, "GET", "/api/rollouts", nil, &out)
	return out.Items, err
}

// Alerts lists open alerts, or with all the resolved ones too (newest
// first, at most 1000).
func (a *Admin) Alerts(ctx context.Context, all bool) ([]wire.Alert, error) {
	state := "open"
	if all {
		state = "all"
	}
	var out wire.Items[wire.Alert]
	err := a.Do(ctx, "GET", "/api/alerts?limit=1000&state="+state, nil, &out)
	return out.Items, err
}

// CheckAlerts runs one alert check on the server.
func (a *Admin) CheckAlerts(ctx context.Context) (wire.AlertCheck, error) {
	var out wire.AlertCheck
	err := a.Do(ctx, "POST", "/api/alerts/check", struct{}{}, &out)
	return out, err
}

// RunRetention deletes expired data on the server, batch rows per transaction.
func (a *Admin) RunRetention(ctx context.Context, batch int) (wire.RetentionRun, error) {
	var out wire.RetentionRun
	err := a.Do(ctx, "POST", "/api/retention/run", map[string]int{"batch": batch}, &out)
	return out, err
}
