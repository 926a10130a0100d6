package store

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
)

// Compactor is a store that compacts old readings: per device, a day of
// readings older than the compaction age becomes one block
// (internal/tscodec), a few bytes a reading. Nothing a reader sees
// changes: every read merges the blocks, and a reading sent again into a
// compacted day is a duplicate.
type Compactor interface {
	// CompactBefore compacts up to limit device-days that end at or
	// before cutoff, the oldest first, each in a transaction of its own,
	// and returns how many it compacted. Several callers at once compact
	// disjoint days.
	CompactBefore(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// CompactorOptions say how often RunCompactor works and on what.
type CompactorOptions struct {
	Interval time.Duration // between passes; a minute when 0
	// Age is the compaction age (COMPACTION_AGE): a day is compacted
	// once it ended this long ago.
	Age time.Duration
	// Batch is how many device-days a call compacts.
	Batch int
}

// RunCompactor compacts, every Interval, every device-day older than the
// compaction age, batch by batch, until ctx ends. A database upgraded
// from before compaction has its old days compacted this way, in the
// background, in short transactions that ingest goes on between.
func RunCompactor(ctx context.Context, c Compactor, opts CompactorOptions, log *slog.Logger) {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Batch <= 0 {
		opts.Batch = 16
	}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	for {
		if err := CompactPass(ctx, c, time.Now().Add(-opts.Age), opts.Batch); err != nil && ctx.Err() == nil {
			log.Warn("compaction: a pass failed; trying again at the next", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// CompactPass compacts every device-day ending at or before cutoff,
// batch by batch.
func CompactPass(ctx context.Context, c Compactor, cutoff time.Time, batch int) error {
	for {
		n, err := c.CompactBefore(ctx, cutoff, batch)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if n < batch {
			return nil
		}
	}
}

// Matches reports whether r is one of the readings q selects (but for
// its Limit).
func (q Query) Matches(r thermowatt.Stored) bool {
	if q.DeviceID != "" && r.DeviceID != q.DeviceID ||
		!q.From.IsZero() && r.RecordedAt.Before(q.From) ||
		!q.To.IsZero() && !r.RecordedAt.Before(q.To) {
		return false
	}
	if a := q.After; a != nil {
		return r.RecordedAt.Before(a.RecordedAt) || r.RecordedAt.Equal(a.RecordedAt) && r.ID < a.ID
	}
	return true
}

// SortNewestFirst sorts readings as pages list them: by (RecordedAt, ID),
// newest first.
func SortNewestFirst(rs []thermowatt.Stored) {
	slices.SortFunc(rs, func(a, b thermowatt.Stored) int {
		if c := b.RecordedAt.Compare(a.RecordedAt); c != 0 {
			return c
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
}

// SampleOf is a reading as the roll-ups and series read it, its pressure
// taken from its payload.
func SampleOf(r thermowatt.Reading) rollup.Sample {
	return rollup.Sample{At: r.RecordedAt.UnixMicro(), Values: [rollup.NumMetrics]*float64{
		r.Temperature, r.Humidity, r.VoltageV, r.CurrentMA, r.PowerMW, PayloadPressure(r.Payload)}}
}
