package apiclient_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/testdb"
	"github.com/thermowatt/thermowatt/internal/testserver"
)

// The admin client against the real API: answers decode into its types,
// and a refusal is an *APIError carrying the server's own message.
func TestAdminAgainstTheRealAPI(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			url := testserver.Start(t, b.Open(t), nil)
			c := &apiclient.Admin{BaseURL: url, Token: testserver.AdminToken}
			tok, err := c.CreateDevice(ctx, "n1")
			if err != nil || tok.DeviceID != "n1" || !strings.HasPrefix(tok.Token, "tw_") || tok.ID == "" {
				t.Fatalf("CreateDevice = %+v, %v", tok, err)
			}
			if _, err := c.CreateDevice(ctx, "n1"); !apiclient.IsStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "already exists") {
				t.Errorf("a second CreateDevice: %v, want a 409 with the server's message", err)
			}
			ds, err := c.Devices(ctx)
			if err != nil || len(ds) != 1 || ds[0].ID != "n1" || ds[0].ExpectedIntervalS != thermowatt.DefaultIntervalS {
				t.Errorf("Devices = %+v, %v", ds, err)
			}
			if _, err := c.SetFleetSettings(ctx, thermowatt.Settings{"interval_s": 600.0}); err != nil {
				t.Fatal(err)
			}
			own, err := c.DeviceSettings(ctx, "n1")
			if err != nil || own.Effective.Settings["interval_s"] != 600.0 {
				t.Errorf("DeviceSettings = %+v, %v", own, err)
			}
			if ds, _ := c.Devices(ctx); len(ds) != 1 || ds[0].ExpectedIntervalS != 600 {
				t.Errorf("the device's interval after the fleet's interval_s=600: %+v", ds)
			}
			if _, err := c.StartRollout(ctx, "9.9.9", nil, true); !apiclient.IsStatus(err, http.StatusNotFound) {
				t.Errorf("a rollout of an unpublished version: %v, want 404", err)
			}
			reader, err := c.CreateToken(ctx, thermowatt.ScopeReader)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.RevokeToken(ctx, reader.ID); err != nil {
				t.Fatal(err)
			}
			if ts, err := c.Tokens(ctx); err != nil || len(ts) != 2 {
				t.Errorf("Tokens = %+v, %v", ts, err)
			}
			if r, err := c.CheckAlerts(ctx); err != nil || r.Devices != 1 {
				t.Errorf("CheckAlerts = %+v, %v", r, err)
			}
			if r, err := c.RunRetention(ctx, 100); err != nil || r.Readings.Days != 400 {
				t.Errorf("RunRetention = %+v, %v", r, err)
			}
			// A token that is not an admin's: the message says which is needed.
			bad := &apiclient.Admin{BaseURL: url, Token: reader.Token}
			if _, err := bad.Devices(ctx); !apiclient.IsStatus(err, http.StatusUnauthorized) || !strings.Contains(err.Error(), "THERMOWATT_TOKEN must be an admin token") {
				t.Errorf("a revoked token: %v", err)
			}
			// Not a thermowatt server at all.
			nowhere := &apiclient.Admin{BaseURL: "http://127.0.0.1:1", Token: "x"}
			if _, err := nowhere.Devices(ctx); err == nil || !strings.Contains(err.Error(), "is the server at http://127.0.0.1:1 up?") {
				t.Errorf("no server: %v", err)
			}
		})
	}
}
