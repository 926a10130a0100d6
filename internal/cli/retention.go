package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/retention"
	"github.com/thermowatt/thermowatt/internal/store"
)

func init() {
	commands["retention"] = command{summary: "delete expired data: retention run (RETENTION_DAYS, RAW_RETENTION_DAYS)", run: runRetention,
		subs: []subcommand{
			{"run", "[--batch N]", "delete readings older than RETENTION_DAYS and raw archive rows older than RAW_RETENTION_DAYS, in short transactions: on the server with THERMOWATT_URL (its settings), else on the database (what the cron job runs)"},
		}}
}

func runRetention(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		return groupHelp(e, "retention")
	}
	if len(args) == 0 || args[0] != "run" {
		return usagef("usage: thermowatt retention run [--batch N]")
	}
	fs := subFlags(e, "retention", "run")
	url := serverFlag(fs)
	batch := fs.Int("batch", 5000, "rows deleted per transaction")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if *batch < 1 {
		return usagef("--batch must be at least 1")
	}
	return withServerOrStore(ctx, e, "retention run", *url, func(c *apiclient.Admin) error {
		r, err := c.RunRetention(ctx, *batch)
		if err != nil {
			return err
		}
		printRetention(e, retention.Report{Readings: retention.Part(r.Readings), Raw: retention.Part(r.Raw), Ops: retention.Part(r.Ops)})
		return nil
	}, func() error {
		if err := requireDatabase(e); err != nil {
			return err
		}
		cfg, err := config.Load(e.getenv)
		if err != nil {
			return err
		}
		return withStore(ctx, e, func(st store.Store) error {
			r, err := retention.Run(ctx, st, retention.Policy{Days: cfg.Ops.RetentionDays, RawDays: cfg.Ops.RawRetentionDays}, *batch, time.Now())
			printRetention(e, r)
			return err
		})
	})
}

func printRetention(e env, r retention.Report) {
	fmt.Fprintf(e.stdout, "readings recorded before %s (RETENTION_DAYS=%d): removed %d in %d batches\n",
		r.Readings.Before.UTC().Format(time.RFC3339), r.Readings.Days, r.Readings.Removed, r.Readings.Batches)
	fmt.Fprintf(e.stdout, "raw archive rows received before %s (RAW_RETENTION_DAYS=%d): removed %d in %d batches\n",
		r.Raw.Before.UTC().Format(time.RFC3339), r.Raw.Days, r.Raw.Removed, r.Raw.Batches)
	fmt.Fprintf(e.stdout, "failure counts and resolved alerts before %s: removed %d\n", r.Ops.Before.UTC().Format(time.RFC3339), r.Ops.Removed)
}
