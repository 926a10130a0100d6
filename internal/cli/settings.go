package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/apiclient"
)

// The settings command asks the server (remote.go), which applies a
// change to devices' answers at once, on every instance.

func init() {
	commands["settings"] = command{summary: "remote settings: settings show [--device ID] | settings set [--device ID] key=value ...", run: runSettings,
		subs: []subcommand{
			{"show", "[--device ID]", "the fleet default, or a device's own and effective settings with their revisions"},
			{"set", "[--device ID] key=value ...", "change settings of the fleet default or of one device (key=null removes one); settable: " + thermowatt.SettingKeys() + "; interval_s is also the interval silence alerts and energy go by"},
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
	url := serverFlag(fs)
	device := fs.String("device", "", "a device's own settings rather than the fleet default")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(err)
	}
	if *device != "" && !thermowatt.ValidDeviceID(*device) {
		return usagef("--device must be %s", thermowatt.DeviceIDRule)
	}
	if sub == "show" {
		if len(pos) != 0 {
			return usagef("settings show takes no arguments, got %q", pos)
		}
		c, err := adminClient(e, "settings show", *url)
		if err != nil {
			return err
		}
		return showSettings(ctx, e, c, *device)
	}
	if len(pos) == 0 {
		return usagef("usage: thermowatt settings set [--device ID] key=value ... (settable: %s)", thermowatt.SettingKeys())
	}
	// Parsed before the server is asked: a typo changes nothing.
	changes := map[string]any{}
	for _, kv := range pos {
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
	c, err := adminClient(e, "settings set", *url)
	if err != nil {
		return err
	}
	var cur thermowatt.Settings
	if *device == "" {
		f, err := c.FleetSettings(ctx)
		if err != nil {
			return err
		}
		cur = f.Settings
	} else {
		d, err := c.DeviceSettings(ctx, *device)
		if apiclient.IsStatus(err, http.StatusNotFound) {
			return fmt.Errorf("no device %q; add it with `thermowatt device add %s`", *device, *device)
		}
		if err != nil {
			return err
		}
		cur = d.Settings
	}
	next := cur.Merge(nil)
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
	var rev int64
	if *device == "" {
		f, err := c.SetFleetSettings(ctx, next)
		if err != nil {
			return err
		}
		rev = f.Rev
	} else {
		d, err := c.SetDeviceSettings(ctx, *device, next)
		if err != nil {
			return err
		}
		rev = d.Rev
	}
	fmt.Fprintf(e.stderr, "settings of %s are now at revision %d; devices apply them after their next batch\n", scopeName(*device), rev)
	return showSettings(ctx, e, c, *device)
}

func scopeName(device string) string {
	if device == "" {
		return "the fleet"
	}
	return "device " + device
}

func showSettings(ctx context.Context, e env, c *apiclient.Admin, device string) error {
	if device == "" {
		f, err := c.FleetSettings(ctx)
		if err != nil {
			return err
		}
		return printSettings(e, "fleet default", f.Rev, f.Settings)
	}
	d, err := c.DeviceSettings(ctx, device)
	if apiclient.IsStatus(err, http.StatusNotFound) {
		return fmt.Errorf("no device %q; add it with `thermowatt device add %s`", device, device)
	}
	if err != nil {
		return err
	}
	if err := printSettings(e, "own", d.Rev, d.Settings); err != nil {
		return err
	}
	return printSettings(e, "effective (fleet default + own)", d.Effective.Rev, d.Effective.Settings)
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
