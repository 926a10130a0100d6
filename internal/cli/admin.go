package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// The device and token commands ask the server (remote.go); only
// `token add` without a server URL opens the database, for the first
// admin token.

func init() {
	commands["device"] = command{summary: "manage devices: device add ID | device list | device token ID", run: runDevice,
		subs: []subcommand{
			{"add", "ID [--config-out config.json --wifi SSID:PASSWORD ... [--base-url URL] [--ota-public-key KEY]]", "register a device (ID: 1-64 characters of A-Z a-z 0-9 . _ -); prints its token, once, or writes a ready config.json holding it"},
			{"token", "ID", "another token for a registered device (rotation); prints it, once"},
			{"list", "", "devices with when they were last seen, their reading count, status, interval (its interval_s setting), firmware, settings revision (applied/desired), last update, and the CA it verifies the server with and the one waiting to take over (first 12 hex digits of their sha256)"},
		}}
	commands["token"] = command{summary: "manage tokens: token add --scope reader|admin | token list | token revoke ID", run: runToken,
		subs: []subcommand{
			{"add", "[--scope reader|admin]", "a reader or admin token, printed once (device tokens: thermowatt device token ID); without THERMOWATT_URL it is made in the database (DATA_DIR or DATABASE_URL): how the first admin token is made"},
			{"list", "", "every token with its scope, device and dates, never its secret"},
			{"revoke", "ID", "revoke a token by its public id (the 12 hex digits after tw_); refused from its next request"},
		}}
}

func withStore(ctx context.Context, e env, f func(store.Store) error) error {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(st)
}

func runDevice(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: thermowatt device add ID | device list | device token ID")
	}
	if isHelp(args[0]) {
		return groupHelp(e, "device")
	}
	switch args[0] {
	case "add", "token":
		fs := subFlags(e, "device", args[0])
		url := serverFlag(fs)
		var prov provisioning
		if args[0] == "add" {
			prov.flags(fs)
		}
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return flagError(err)
		}
		if len(pos) != 1 || !thermowatt.ValidDeviceID(pos[0]) {
			return usagef("usage: thermowatt device %s ID (%s)", args[0], thermowatt.DeviceIDRule)
		}
		id := pos[0]
		c, err := adminClient(e, "device "+args[0], *url)
		if err != nil {
			return err
		}
		if err := prov.check(e, c.BaseURL); err != nil {
			return err
		}
		var tok wire.IssuedToken
		if args[0] == "add" {
			tok, err = c.CreateDevice(ctx, id)
			if apiclient.IsStatus(err, http.StatusConflict) {
				return fmt.Errorf("device %q already exists; `thermowatt device token %s` gives it another token", id, id)
			}
		} else {
			tok, err = c.CreateDeviceToken(ctx, id)
			if apiclient.IsStatus(err, http.StatusNotFound) {
				return fmt.Errorf("no device %q; add it with `thermowatt device add %s`", id, id)
			}
		}
		if err != nil {
			return err
		}
		if prov.configOut != "" {
			return prov.write(e, tok)
		}
		printToken(e, tok)
		return nil
	case "list":
		fs := subFlags(e, "device", "list")
		c, err := flagsOnlyClient(e, fs, args[1:], "device list")
		if err != nil {
			return err
		}
		ds, err := c.Devices(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tLAST SEEN\tREADINGS\tSTATUS\tINTERVAL\tFIRMWARE\tSETTINGS\tUPDATE\tCA\tCA WAITING")
		for _, d := range ds {
			seen := "never"
			if d.LastSeenAt != nil {
				seen = d.LastSeenAt.UTC().Format(time.RFC3339)
			}
			fw, applied, update := fleetColumns(d)
			ca, caWaiting := caColumns(d.CA)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s/%d\t%s\t%s\t%s\n", d.ID, d.CreatedAt.UTC().Format(time.RFC3339), seen, d.ReadingCount,
				d.Status, time.Duration(d.ExpectedIntervalS)*time.Second, fw, applied, d.SettingsRev.Desired, update, ca, caWaiting)
		}
		return tw.Flush()
	case "set-interval":
		return usagef("device set-interval is gone: a device's interval is its interval_s setting, which it also applies: thermowatt settings set --device ID interval_s=SECONDS")
	}
	return usagef("unknown device command %q; `thermowatt device -h` lists them", args[0])
}

func runToken(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: thermowatt token add --scope reader|admin | token list | token revoke ID")
	}
	if isHelp(args[0]) {
		return groupHelp(e, "token")
	}
	switch args[0] {
	case "add":
		fs := subFlags(e, "token", "add")
		url := serverFlag(fs)
		scope := fs.String("scope", "reader", "reader or admin")
		if err := parseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		sc := thermowatt.Scope(*scope)
		if sc != thermowatt.ScopeReader && sc != thermowatt.ScopeAdmin {
			return usagef("--scope must be reader or admin (device tokens: thermowatt device token ID)")
		}
		return withServerOrStore(ctx, e, "token add", *url, func(c *apiclient.Admin) error {
			tok, err := c.CreateToken(ctx, sc)
			if err != nil {
				return err
			}
			printToken(e, tok)
			return nil
		}, func() error {
			if err := requireDatabase(e); err != nil {
				return err
			}
			return withStore(ctx, e, func(st store.Store) error { return issueToken(ctx, e, st, sc, "") })
		})
	case "list":
		fs := subFlags(e, "token", "list")
		c, err := flagsOnlyClient(e, fs, args[1:], "token list")
		if err != nil {
			return err
		}
		ts, err := c.Tokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSCOPE\tDEVICE\tCREATED\tREVOKED")
		for _, t := range ts {
			revoked := "-"
			if t.RevokedAt != nil {
				revoked = t.RevokedAt.UTC().Format(time.RFC3339)
			}
			dev := t.DeviceID
			if dev == "" {
				dev = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Scope, dev, t.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		fs := subFlags(e, "token", "revoke")
		url := serverFlag(fs)
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return flagError(err)
		}
		if len(pos) != 1 {
			return usagef("usage: thermowatt token revoke ID")
		}
		id := pos[0]
		c, err := adminClient(e, "token revoke", *url)
		if err != nil {
			return err
		}
		if err := c.RevokeToken(ctx, id); apiclient.IsStatus(err, http.StatusNotFound) {
			return fmt.Errorf("no active token %q (`thermowatt token list` shows them)", id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked %s\n", id)
		return nil
	}
	return usagef("unknown token command %q; `thermowatt token -h` lists them", args[0])
}

// printToken prints a token the server issued: the only time it is shown.
func printToken(e env, tok wire.IssuedToken) {
	fmt.Fprintf(e.stderr, "created %s token %s%s; it is shown only once:\n", tok.Scope, tok.ID, forDevice(tok.DeviceID))
	fmt.Fprintln(e.stdout, tok.Token)
}

// issueToken creates a token and prints it: the only time it is shown.
func issueToken(ctx context.Context, e env, st store.Store, scope thermowatt.Scope, deviceID string) error {
	secret, t, err := auth.New(scope, deviceID, time.Now())
	if err != nil {
		return err
	}
	if err := st.CreateToken(ctx, t); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "created %s token %s%s; it is shown only once:\n", scope, t.ID, forDevice(deviceID))
	fmt.Fprintln(e.stdout, secret)
	return nil
}

func forDevice(id string) string {
	if id == "" {
		return ""
	}
	return " for device " + id
}

// fleetColumns is what a device reports of itself for the fleet: the
// firmware it runs, the settings revision it applied and its last update
// ("-" for what it never said).
func fleetColumns(d wire.Device) (firmware, applied, update string) {
	firmware, applied, update = "-", "-", "-"
	if d.Firmware != nil {
		firmware = *d.Firmware
	}
	if d.SettingsRev.Applied != nil {
		applied = strconv.FormatInt(*d.SettingsRev.Applied, 10)
	}
	var u struct {
		State   string `json:"state"`
		Version string `json:"version"`
	}
	if json.Unmarshal(d.Update, &u) == nil && u.State != "" { // a device's odd report must not stop the list
		update = strings.TrimSpace(u.State + " " + u.Version)
	}
	return firmware, applied, update
}

// caColumns reads the CAs a device reports (payload.device.ca) as the
// first 12 hex digits of their fingerprints, "-" for none: old firmware
// and devices without ca_cert report none.
func caColumns(ca *wire.DeviceCA) (active, waiting string) {
	active, waiting = "-", "-"
	if ca == nil {
		return active, waiting
	}
	if ca.Active != nil && *ca.Active != "" {
		active = thermowatt.ShortCAFingerprint(*ca.Active)
	}
	if ca.Waiting != nil && *ca.Waiting != "" {
		waiting = thermowatt.ShortCAFingerprint(*ca.Waiting)
	}
	return active, waiting
}
