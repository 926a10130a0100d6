package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/effective"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The settings command works on the database directly, as device and token
// do. A server running on the same database sees a change within its
// desired-state cache time (15 s); devices with their next batch.

func init() {
	commands["settings"] = command{summary: "remote settings: settings show [--device ID] | settings set [--device ID] key=value ...", run: runSettings,
		subs: []subcommand{
			{"show", "[--device ID]", "the fleet default, or a device's own and effective settings with their revisions"},
			{"set", "[--device ID] key=value ...", "change settings of the fleet default or of one device (key=null removes one); settable: " + thermowatt.SettingKeys()},
		}}
}

func runSettings(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: thermowatt settings show [--device ID] | settings set [--device ID] key=value ...")
	}
	if isHelp(args[0]) {
		return groupHelp(e, "settings")
	}
	sub := args[0]
	if sub != "show" && sub != "set" {
		return usagef("unknown settings command %q; `thermowatt settings -h` lists them", sub)
	}
	fs := subFlags(e, "settings", sub)
	device := fs.String("device", "", "a device's own settings rather than the fleet default")
	if err := fs.Parse(args[1:]); err != nil {
		return flagError(err)
	}
	if *device != "" && !thermowatt.ValidDeviceID(*device) {
		return usagef("--device must be %s", thermowatt.DeviceIDRule)
	}
	if sub == "show" {
		if fs.NArg() != 0 {
			return usagef("settings show takes no arguments, got %q", fs.Args())
		}
		return withStore(ctx, e, func(st store.Store) error { return showSettings(ctx, e, st, *device) })
	}
	if fs.NArg() == 0 {
		return usagef("usage: thermowatt settings set [--device ID] key=value ... (settable: %s)", thermowatt.SettingKeys())
	}
	// Parsed before the database is opened: a typo changes nothing.
	changes := map[string]any{}
	for _, kv := range fs.Args() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return usagef("%q is not key=value", kv)
		}
		rule, ok := thermowatt.SettingRuleFor(k)
		if !ok {
			return usagef("%s cannot be set remotely (settable: %s)", k, thermowatt.SettingKeys())
		}
		if v == "null" {
			changes[k] = nil
			continue
		}
		val, err := rule.Parse(v)
		if err != nil {
			return usagef("%v", err)
		}
		changes[k] = val
	}
	return withStore(ctx, e, func(st store.Store) error {
		var cur thermowatt.SettingsSet
		var err error
		if *device == "" {
			cur, err = st.FleetSettings(ctx)
		} else {
			cur, err = st.DeviceSettings(ctx, *device)
		}
		if errors.Is(err, thermowatt.ErrNotFound) {
			return fmt.Errorf("no device %q; add it with `thermowatt device add %s`", *device, *device)
		}
		if err != nil {
			return err
		}
		next := cur.Values.Merge(nil)
		for k, v := range changes {
			if v == nil {
				delete(next, k)
			} else {
				next[k] = v
			}
		}
		if err := next.Validate(); err != nil {
			return fmt.Errorf("%w", err)
		}
		// What every device it reaches would apply, as the API checks it.
		if *device == "" {
			err = effective.CheckFleet(ctx, st, next)
		} else {
			err = effective.CheckDevice(ctx, st, *device, next)
		}
		if err != nil {
			return err
		}
		var rev int64
		if *device == "" {
			rev, err = st.SetFleetSettings(ctx, next, time.Now())
		} else {
			rev, err = st.SetDeviceSettings(ctx, *device, next, time.Now())
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "settings of %s are now at revision %d; devices apply them after their next batch\n", scopeName(*device), rev)
		return showSettings(ctx, e, st, *device)
	})
}

func scopeName(device string) string {
	if device == "" {
		return "the fleet"
	}
	return "device " + device
}

func showSettings(ctx context.Context, e env, st store.Store, device string) error {
	if device == "" {
		f, err := st.FleetSettings(ctx)
		if err != nil {
			return err
		}
		return printSettings(e, "fleet default", f.Rev, f.Values)
	}
	own, err := st.DeviceSettings(ctx, device)
	if errors.Is(err, thermowatt.ErrNotFound) {
		return fmt.Errorf("no device %q; add it with `thermowatt device add %s`", device, device)
	}
	if err != nil {
		return err
	}
	eff, err := st.EffectiveSettings(ctx, device)
	if err != nil {
		return err
	}
	if err := printSettings(e, "own", own.Rev, own.Values); err != nil {
		return err
	}
	return printSettings(e, "effective (fleet default + own)", eff.Rev, eff.Values)
}

func printSettings(e env, what string, rev int64, v thermowatt.Settings) error {
	if v == nil {
		v = thermowatt.Settings{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: rev %d %s\n", what, rev, b)
	return nil
}
