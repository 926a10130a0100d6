package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/store"
)

func init() {
	commands["retention"] = command{summary: "delete expired data: retention run (RETENTION_DAYS, RAW_RETENTION_DAYS)", run: runRetention,
		subs: []subcommand{
			{"run", "[--batch N]", "delete readings older than RETENTION_DAYS and raw archive rows older than RAW_RETENTION_DAYS, in short transactions (what the cron job runs)"},
		}}
}

// opsRetention is how long failure counts and resolved, notified alerts
// are kept: long enough to look back on, short enough not to matter.
const opsRetention = 90 * 24 * time.Hour

func runRetention(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		return groupHelp(e, "retention")
	}
	if len(args) == 0 || args[0] != "run" {
		return usagef("usage: thermowatt retention run [--batch N]")
	}
	fs := subFlags(e, "retention", "run")
	batch := fs.Int("batch", 5000, "rows deleted per transaction")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if *batch < 1 {
		return usagef("--batch must be at least 1")
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	return withStore(ctx, e, func(st store.Store) error {
		now := time.Now().UTC()
		// On an hour's edge: the hourly roll-ups then lose whole hours, and
		// no device's hour is left half expired to recompute on every run.
		cutoff := now.AddDate(0, 0, -cfg.Ops.RetentionDays).Truncate(time.Hour)
		n, batches, err := inBatches(ctx, func() (int64, error) { return st.DeleteReadingsBefore(ctx, cutoff, *batch) }, *batch)
		fmt.Fprintf(e.stdout, "readings recorded before %s (RETENTION_DAYS=%d): removed %d in %d batches\n",
			cutoff.Format(time.RFC3339), cfg.Ops.RetentionDays, n, batches)
		if err != nil {
			return err
		}
		rawCutoff := now.AddDate(0, 0, -cfg.Ops.RawRetentionDays)
		n, batches, err = inBatches(ctx, func() (int64, error) { return st.DeleteRawBefore(ctx, rawCutoff, *batch) }, *batch)
		fmt.Fprintf(e.stdout, "raw archive rows received before %s (RAW_RETENTION_DAYS=%d): removed %d in %d batches\n",
			rawCutoff.Format(time.RFC3339), cfg.Ops.RawRetentionDays, n, batches)
		if err != nil {
			return err
		}
		opsCutoff := now.Add(-opsRetention)
		n, err = st.DeleteOpsBefore(ctx, opsCutoff)
		fmt.Fprintf(e.stdout, "failure counts and resolved alerts before %s: removed %d\n", opsCutoff.Format(time.RFC3339), n)
		return err
	})
}

// inBatches calls del until a batch comes back short. Each call is its
// own short transaction, so no lock is held for long and ingest goes on
// between batches.
func inBatches(ctx context.Context, del func() (int64, error), size int) (total int64, batches int, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return total, batches, err
		}
		n, err := del()
		if err != nil {
			return total, batches, err
		}
		batches++
		total += n
		if n < int64(size) {
			return total, batches, nil
		}
	}
}
