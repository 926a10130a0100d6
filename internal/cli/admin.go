package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/httpapi"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The device and token commands work on the database directly (the same
// DATABASE_URL or DATA_DIR as serve), so they need no running server: on
// Render they run in the service's shell.

func init() {
	commands["device"] = command{summary: "manage devices: device add ID | device list | device token ID | device set-interval ID 60s", run: runDevice,
		subs: []subcommand{
			{"add", "ID [--config-out config.json --wifi SSID:PASSWORD ... [--base-url URL] [--ota-public-key KEY]]", "register a device (ID: 1-64 characters of A-Z a-z 0-9 . _ -); prints its token, once, or writes a ready config.json holding it"},
			{"token", "ID", "another token for a registered device (rotation); prints it, once"},
			{"list", "", "devices with when they were last seen, their reading count, status, expected interval, firmware, settings revision (applied/desired) and last update"},
			{"set-interval", "ID DURATION", "how often the device should send (60s, 5m; plain numbers are seconds); it is silent after ALERT_MISSED_INTERVALS of these"},
		}}
	commands["token"] = command{summary: "manage tokens: token add --scope reader|admin | token list | token revoke ID", run: runToken,
		subs: []subcommand{
			{"add", "[--scope reader|admin]", "a reader or admin token, printed once (device tokens: thermowatt device token ID)"},
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
		return usagef("usage: thermowatt device add ID | device list | device token ID | device set-interval ID DURATION")
	}
	if isHelp(args[0]) {
		return groupHelp(e, "device")
	}
	switch args[0] {
	case "set-interval": // interval.go
		return runSetInterval(ctx, e, args[1:])
	case "add", "token":
		fs := subFlags(e, "device", args[0])
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
		if err := prov.check(e); err != nil {
			return err
		}
		return withStore(ctx, e, func(st store.Store) error {
			if args[0] == "add" {
				if _, err := st.CreateDevice(ctx, id, time.Now()); errors.Is(err, thermowatt.ErrExists) {
					return fmt.Errorf("device %q already exists; `thermowatt device token %s` gives it another token", id, id)
				} else if err != nil {
					return err
				}
			} else if _, err := st.GetDevice(ctx, id); errors.Is(err, thermowatt.ErrNotFound) {
				return fmt.Errorf("no device %q; add it with `thermowatt device add %s`", id, id)
			} else if err != nil {
				return err
			}
			if prov.configOut != "" {
				return prov.write(ctx, e, st, id)
			}
			return issueToken(ctx, e, st, thermowatt.ScopeDevice, id)
		})
	case "list":
		fs := subFlags(e, "device", "list")
		if err := parseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		return withStore(ctx, e, func(st store.Store) error {
			cfg, err := config.Load(e.getenv)
			if err != nil {
				return err
			}
			missed, now := policyOf(cfg).MissedIntervals, time.Now()
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tLAST SEEN\tREADINGS\tSTATUS\tINTERVAL\tFIRMWARE\tSETTINGS\tUPDATE")
			err = store.EachDevice(ctx, st, func(d thermowatt.Device) error {
				seen := "never"
				if d.LastSeenAt != nil {
					seen = d.LastSeenAt.UTC().Format(time.RFC3339)
				}
				fw, applied, update := fleetColumns(d.Health)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s/%d\t%s\n", d.ID, d.CreatedAt.UTC().Format(time.RFC3339), seen, d.ReadingCount,
					d.Status(now, missed), time.Duration(d.ExpectedIntervalS)*time.Second, fw, applied, d.SettingsRev, update)
				return nil
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		})
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
		scope := fs.String("scope", "reader", "reader or admin")
		if err := parseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		sc := thermowatt.Scope(*scope)
		if sc != thermowatt.ScopeReader && sc != thermowatt.ScopeAdmin {
			return usagef("--scope must be reader or admin (device tokens: thermowatt device token ID)")
		}
		return withStore(ctx, e, func(st store.Store) error { return issueToken(ctx, e, st, sc, "") })
	case "list":
		fs := subFlags(e, "token", "list")
		if err := parseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		return withStore(ctx, e, func(st store.Store) error {
			ts, err := st.ListTokens(ctx)
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
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Scope, t.DeviceID, t.CreatedAt.UTC().Format(time.RFC3339), revoked)
			}
			return tw.Flush()
		})
	case "revoke":
		fs := subFlags(e, "token", "revoke")
		if err := fs.Parse(args[1:]); err != nil {
			return flagError(err)
		}
		if fs.NArg() != 1 {
			return usagef("usage: thermowatt token revoke ID")
		}
		id := fs.Arg(0)
		return withStore(ctx, e, func(st store.Store) error {
			if err := st.RevokeToken(ctx, id, time.Now()); errors.Is(err, thermowatt.ErrNotFound) {
				return fmt.Errorf("no active token %q (`thermowatt token list` shows them)", id)
			} else if err != nil {
				return err
			}
			// As DELETE /api/tokens/{id}: done once every instance dropped it.
			if a, ok := st.(interface {
				AwaitRevocation(context.Context, string, time.Duration) error
			}); ok {
				if err := a.AwaitRevocation(ctx, id, httpapi.RevocationBound); err != nil {
					fmt.Fprintf(e.stderr, "warning: %v\n", err)
				}
			}
			fmt.Fprintf(e.stdout, "revoked %s\n", id)
			return nil
		})
	}
	return usagef("unknown token command %q; `thermowatt token -h` lists them", args[0])
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

// fleetColumns reads what a device reports of itself for the fleet: the
// firmware it runs, the settings revision it applied and its last update
// ("-" for what it never said).
func fleetColumns(health []byte) (firmware, applied, update string) {
	var h struct {
		Firmware    *string  `json:"firmware"`
		SettingsRev *float64 `json:"settings_rev"`
		Update      *struct {
			State   string `json:"state"`
			Version string `json:"version"`
		} `json:"update"`
	}
	_ = json.Unmarshal(health, &h) // a device's odd report must not stop the list
	firmware, applied, update = "-", "-", "-"
	if h.Firmware != nil {
		firmware = *h.Firmware
	}
	if h.SettingsRev != nil {
		applied = strconv.FormatFloat(*h.SettingsRev, 'f', -1, 64)
	}
	if h.Update != nil && h.Update.State != "" {
		update = strings.TrimSpace(h.Update.State + " " + h.Update.Version)
	}
	return firmware, applied, update
}
