package cli

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// The rollout command asks the server (remote.go), which applies a
// change to devices' answers at once, on every instance.

func init() {
	commands["rollout"] = command{summary: "firmware rollouts: rollout start --version V (--device ID ... | --all) | rollout pause|resume ID | rollout list", run: runRollout,
		subs: []subcommand{
			{"start", "--version V (--device ID ... | --all)", "assign a published version to devices or to all; the newest unpaused rollout of a device wins"},
			{"pause", "ID", "pause a rollout: its devices go back to what the previous unpaused rollout targeting them says"},
			{"resume", "ID", "resume a paused rollout"},
			{"list", "", "every rollout, newest first"},
		}}
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func runRollout(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: thermowatt rollout start --version V (--device ID ... | --all) | rollout pause|resume ID | rollout list")
	}
	if isHelp(args[0]) {
		return groupHelp(e, "rollout")
	}
	switch args[0] {
	case "start":
		fs := subFlags(e, "rollout", "start")
		url := serverFlag(fs)
		version := fs.String("version", "", "the published version to run (thermowatt firmware publish)")
		all := fs.Bool("all", false, "every device, also those registered later")
		var devices repeated
		fs.Var(&devices, "device", "a device to update; repeat for several")
		if err := fs.Parse(args[1:]); err != nil {
			return flagError(err)
		}
		if fs.NArg() != 0 {
			return usagef("rollout start takes no arguments, got %q (devices are --device ID)", fs.Args())
		}
		if !thermowatt.ValidFirmwareVersion(*version) {
			return usagef("--version must be %s", thermowatt.FirmwareVersionRule)
		}
		if *all == (len(devices) > 0) {
			return usagef("give --device ID (repeatable) or --all, not both or neither")
		}
		for _, id := range devices {
			if !thermowatt.ValidDeviceID(id) {
				return usagef("--device %q must be %s", id, thermowatt.DeviceIDRule)
			}
		}
		c, err := adminClient(e, "rollout start", *url)
		if err != nil {
			return err
		}
		r, err := c.StartRollout(ctx, *version, devices, *all)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "rollout %d: %s to %s\n", r.ID, r.Version, targets(r))
		return nil
	case "pause", "resume":
		fs := subFlags(e, "rollout", args[0])
		url := serverFlag(fs)
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return flagError(err)
		}
		var id int64
		if len(pos) == 1 {
			id, err = strconv.ParseInt(pos[0], 10, 64)
		}
		if len(pos) != 1 || err != nil || id < 1 {
			return usagef("usage: thermowatt rollout %s ID (the number `thermowatt rollout list` shows)", args[0])
		}
		c, err := adminClient(e, "rollout "+args[0], *url)
		if err != nil {
			return err
		}
		r, err := c.SetRolloutPaused(ctx, id, args[0] == "pause")
		if apiclient.IsStatus(err, http.StatusNotFound) {
			return fmt.Errorf("no rollout %d (`thermowatt rollout list` shows them)", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "rollout %d (%s to %s) %sd\n", r.ID, r.Version, targets(r), args[0])
		return nil
	case "list":
		fs := subFlags(e, "rollout", "list")
		c, err := flagsOnlyClient(e, fs, args[1:], "rollout list")
		if err != nil {
			return err
		}
		rs, err := c.Rollouts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tVERSION\tTARGETS\tSTATE\tCREATED")
		for _, r := range rs {
			state := "active"
			if r.Paused {
				state = "paused"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.ID, r.Version, targets(r), state, r.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	}
	return usagef("unknown rollout command %q; `thermowatt rollout -h` lists them", args[0])
}

func targets(r wire.Rollout) string {
	if r.All {
		return "all devices"
	}
	return strings.Join(r.Devices, ",")
}
