package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/backfill"
	"github.com/thermowatt/thermowatt/internal/wire"
)

func init() {
	commands["backfill"] = command{summary: "send CSV files (temp.csv, elect.csv, ...) to the API: backfill --device ID FILE...", run: runBackfill}
}

const backfillUsage = `Usage: thermowatt backfill [flags] FILE...

Sends the rows of CSV files to POST /api/measurements: the firmware's
temp.csv and elect.csv as they are, or any CSV through --map. Rows of the
same instant become one reading. Safe to run again (already stored readings
count as duplicates) and to interrupt (rerun the same command to resume).

The token comes from THERMOWATT_TOKEN (preferred: a --token on the command
line is visible in ps and kept in shell history). An admin token writes for
any --device (registering it); a device token only for its own device.

Flags:
`

// parseInterleaved lets flags follow file names, as in
// "thermowatt backfill temp.csv elect.csv --device x".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// isTerminal reports whether w is a terminal, for progress bars.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// apiFlags are the flags every API client command has.
type apiFlags struct{ url, token *string }

func addAPIFlags(fs *flag.FlagSet, e env) apiFlags {
	def := e.getenv("THERMOWATT_URL")
	if def == "" {
		def = "http://localhost:8080"
	}
	return apiFlags{
		url:   fs.String("url", def, "base URL of the service (env THERMOWATT_URL)"),
		token: fs.String("token", "", "API token (prefer env THERMOWATT_TOKEN: a flag shows in ps and shell history)"),
	}
}

func (a apiFlags) client(e env) (*apiclient.Client, error) {
	tok := *a.token
	if tok == "" {
		tok = e.getenv("THERMOWATT_TOKEN")
	}
	if tok == "" {
		return nil, usagef("no token: set THERMOWATT_TOKEN (or --token)")
	}
	u := strings.TrimRight(*a.url, "/")
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, usagef("--url %q must start with http:// or https://", u)
	}
	return &apiclient.Client{BaseURL: u, Token: tok}, nil
}

func runBackfill(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "backfill")
	fs.Usage = func() { fmt.Fprint(e.stderr, backfillUsage); fs.PrintDefaults() }
	api := addAPIFlags(fs, e)
	device := fs.String("device", "", "device id of the readings (unless a deviceId column is mapped)")
	mapping := fs.String("map", "", "column mapping FIELD=COLUMN,...; fields: recordedAt deviceId temperature humidity pressure voltage current power")
	tzName := fs.String("tz", "UTC", "IANA time zone of timestamps without an offset, e.g. Asia/Tokyo")
	since := fs.String("since", "", "only readings at or after this time (RFC 3339 or YYYY-MM-DD, in --tz)")
	until := fs.String("until", "", "only readings before this time (RFC 3339 or YYYY-MM-DD, in --tz)")
	batch := fs.Int("batch", wire.MaxBatch, "readings per request (at most the API's maximum)")
	rateLimit := fs.Float64("rate", 0, "at most this many readings per second (0: no limit)")
	dryRun := fs.Bool("dry-run", false, "read and validate everything, send nothing")
	cpPath := fs.String("checkpoint", "", "checkpoint file (default: .thermowatt-backfill.json next to the first FILE)")
	attempts := fs.Int("attempts", 10, "tries per batch on 408/429/5xx/network errors before stopping (0: forever)")
	progressEvery := fs.Duration("progress", 5*time.Second, "interval of progress lines when stderr is not a terminal (0: none)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(files) == 0 {
		return usagef("backfill: no FILE given (e.g. thermowatt backfill --device esp32-node-01 temp.csv elect.csv)")
	}
	if *device != "" && !thermowatt.ValidDeviceID(*device) {
		return usagef("--device %q: %s", *device, thermowatt.DeviceIDRule)
	}
	if *batch < 1 || *batch > wire.MaxBatch {
		return usagef("--batch must be 1..%d", wire.MaxBatch)
	}
	m, err := backfill.ParseMapping(*mapping)
	if err != nil {
		return flagError(err)
	}
	tz, err := time.LoadLocation(*tzName)
	if err != nil {
		return usagef("--tz %q: not an IANA time zone name such as UTC or Asia/Tokyo", *tzName)
	}
	o := backfill.Options{
		Files: files, Device: *device, Map: m, TZ: tz,
		BatchSize: *batch, Rate: *rateLimit, DryRun: *dryRun, Checkpoint: *cpPath,
		Policy: apiclient.Policy{MaxAttempts: *attempts, Backoff: apiclient.Backoff{Base: time.Second, Cap: 30 * time.Second}},
	}
	for _, b := range []struct {
		name, v string
		dst     *time.Time
	}{{"since", *since, &o.Since}, {"until", *until, &o.Until}} {
		if b.v == "" {
			continue
		}
		t, err := parseBound(b.v, tz)
		if err != nil {
			return usagef("--%s %q: use RFC 3339 (2025-02-05T09:30:00+09:00) or a date (2025-02-05)", b.name, b.v)
		}
		*b.dst = t
	}
	if !*dryRun {
		if o.Client, err = api.client(e); err != nil {
			return err
		}
	}
	if *progressEvery > 0 || isTerminal(e.stderr) {
		o.Progress, o.Terminal, o.ProgressInterval = e.stderr, isTerminal(e.stderr), *progressEvery
	}
	s, runErr := backfill.Run(ctx, o)
	if s.Rows > 0 || runErr == nil {
		s.Write(e.stdout)
	}
	return runErr
}

func parseBound(s string, tz *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02", s, tz)
}
