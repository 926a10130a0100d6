// Package retention deletes expired data in short transactions: what
// `thermowatt retention run` (the daily cron job) and
// POST /api/retention/run do alike.
package retention

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// Policy is how long each kind of data is kept.
type Policy struct {
	Days    int // readings (RETENTION_DAYS)
	RawDays int // raw archive rows (RAW_RETENTION_DAYS)
}

// Default is config's defaults, for servers built without a configuration
// (tests).
var Default = Policy{Days: 400, RawDays: 30}

// OpsKept is how long failure counts and resolved, notified alerts are
// kept: long enough to look back on, short enough not to matter.
const OpsKept = 90 * 24 * time.Hour

// Part is what a run removed of one kind of data (on the wire:
// wire.RetentionPart).
type Part struct {
	Before  time.Time
	Days    int
	Removed int64
	Batches int
}

// Report is what a run removed.
type Report struct {
	Readings Part
	Raw      Part
	Ops      Part
}

// Store is what a run deletes from.
type Store interface {
	store.Retention
}

// Run deletes readings, raw archive rows, failure counts and resolved
// alerts older than the policy keeps, batch rows per transaction. On an
// error the report holds what was removed until then.
func Run(ctx context.Context, st Store, p Policy, batch int, now time.Time) (Report, error) {
	now = now.UTC()
	var r Report
	// On an hour's edge: the hourly roll-ups then lose whole hours, and
	// no device's hour is left half expired to recompute on every run.
	r.Readings = Part{Before: now.AddDate(0, 0, -p.Days).Truncate(time.Hour), Days: p.Days}
	var err error
	r.Readings.Removed, r.Readings.Batches, err = inBatches(ctx, func() (int64, error) {
		return st.DeleteReadingsBefore(ctx, r.Readings.Before, batch)
	}, batch)
	if err != nil {
		return r, err
	}
	r.Raw = Part{Before: now.AddDate(0, 0, -p.RawDays), Days: p.RawDays}
	r.Raw.Removed, r.Raw.Batches, err = inBatches(ctx, func() (int64, error) {
		return st.DeleteRawBefore(ctx, r.Raw.Before, batch)
	}, batch)
	if err != nil {
		return r, err
	}
	r.Ops = Part{Before: now.Add(-OpsKept), Days: int(OpsKept / (24 * time.Hour)), Batches: 1}
	r.Ops.Removed, err = st.DeleteOpsBefore(ctx, r.Ops.Before)
	return r, err
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
