package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt/internal/simulate"
)

func init() {
	commands["simulate"] = command{summary: "run simulated ESP32 nodes against a service: simulate --devices N --interval D", run: runSimulate}
}

const simulateUsage = `Usage: thermowatt simulate [flags]

Runs simulated ESP32 nodes that speak exactly the firmware's protocol:
temperature and power curves (a thermostat-switched heater), device health
in payload.device, Wi-Fi outages followed by backlog flushes in batches,
reboots whose first readings wait for NTP. Stops on Ctrl-C (or --duration).

Needs an admin token (devices sim-01, sim-02, ... are registered on their
first reading), from THERMOWATT_TOKEN or --token.

Flags:
`

func runSimulate(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "simulate")
	fs.Usage = func() { fmt.Fprint(e.stderr, simulateUsage); fs.PrintDefaults() }
	api := addAPIFlags(fs, e)
	devices := fs.Int("devices", 3, "number of simulated devices")
	interval := fs.Duration("interval", 5*time.Second, "time between measurements (the firmware's is 5m)")
	history := fs.Duration("history", 0, "past each device has queued at start and flushes at once, e.g. 2h (at most 2000 readings)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until Ctrl-C)")
	prefix := fs.String("prefix", "sim-", "device id prefix")
	batch := fs.Int("batch", 25, "readings per request, as the firmware's batch_size")
	offline := fs.Float64("offline", 0.01, "chance per interval that a device loses Wi-Fi (negative: never)")
	reboot := fs.Float64("reboot", 0.003, "chance per interval that a device reboots (negative: never)")
	seed := fs.Uint64("seed", 0, "random seed, for a repeatable run (0: random)")
	quiet := fs.Bool("quiet", false, "no event lines, only the final statistics")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usagef("simulate takes no arguments, got %q", fs.Args())
	}
	if *devices < 1 || *devices > 10000 {
		return usagef("--devices must be 1..10000")
	}
	if *interval <= 0 {
		return usagef("--interval must be positive, e.g. 5s")
	}
	c, err := api.client(e)
	if err != nil {
		return err
	}
	o := simulate.Options{
		URL: c.BaseURL, Token: c.Token, Devices: *devices, Prefix: *prefix, Interval: *interval,
		History: *history, Duration: *duration, BatchSize: *batch,
		OfflineChance: *offline, RebootChance: *reboot, Seed: *seed,
	}
	if !*quiet {
		o.Log = e.stderr
	}
	fmt.Fprintf(e.stderr, "simulating %d devices (%s01...) every %s against %s; Ctrl-C stops\n", *devices, *prefix, *interval, c.BaseURL)
	s, err := simulate.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, s)
	return nil
}
