package store

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/tscodec"
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

// DayBlock encodes a device-day's block: the readings still in rows and
// those already in the day's block (a reading stored into a compacted
// day lands in a row, which the next pass merges), in time order. n is
// how many readings the block holds.
func DayBlock(deviceID string, day time.Time, rows, blocked []thermowatt.Stored) (block []byte, n int, err error) {
	readings := append(rows, blocked...)
	slices.SortFunc(readings, func(a, b thermowatt.Stored) int { return a.RecordedAt.Compare(b.RecordedAt) })
	block, err = tscodec.EncodeBlock(readings)
	if err != nil {
		return nil, 0, fmt.Errorf("block of %q on %s: %w", deviceID, day.UTC().Format(time.DateOnly), err)
	}
	return block, len(readings), nil
}

// Skipped is what a pass of CompactOldestDays has skipped so far: the
// devices whose oldest day is being written (never nil: pgx sends a nil
// slice as NULL), and Since, the time of the oldest row of the last one
// skipped. Every row older than Since is a skipped device's, so the next
// look for the oldest day starts there: looking from the oldest row each
// time read every skipped device's rows again once per device skipped (a
// pass took 2.2 s, every minute, after six minutes of 300 devices
// backfilling: make soak).
type Skipped struct {
	Devices []string
	Since   time.Time
}

// CompactScanRows is how many rows from Skipped.Since one look for the
// oldest day reads at most. When all of them are skipped devices' (many
// devices backfilling the same old days), the pass ends there and the days
// beyond wait for a pass after the backfills: compaction is never urgent,
// and a read of every row each minute would slow the backfills it waits for.
const CompactScanRows = 50_000

// CompactOldestDays compacts up to limit device-days, the oldest first,
// one call of compactOldest each, and returns how many it compacted and
// whether it stopped because none was left (compactOldest's done false).
// A device whose oldest day is being written (compactOldest's writing,
// WrittenSince; writingAt, the time of the row that day was found by) is
// skipped for the rest of the pass.
func CompactOldestDays(limit int, compactOldest func(skipped Skipped) (done bool, writing string, writingAt time.Time, err error)) (n int, noneLeft bool, err error) {
	skipped := Skipped{Devices: []string{}}
	for n < limit {
		done, writing, at, err := compactOldest(skipped)
		if err != nil {
			return n, false, err
		}
		if writing != "" {
			skipped.Devices = append(skipped.Devices, writing)
			skipped.Since = at
			continue
		}
		if !done {
			return n, true, nil
		}
		n++
	}
	return n, false, nil
}

// writtenFor is how long after a device's last reading arrived the
// compactor still takes its newest day as being written, and leaves it in
// rows until the device moves past it or falls quiet. A backfill writes
// old days one after another; compacting the day it is writing would have
// every later insert into it checked against the day's whole block (a
// dense backfill's cost per insert grew with the day: make soak,
// docs/benchmarks.md). InfluxDB likewise compacts only shards that went
// cold. serve sets it from COMPACTION_WRITTEN_FOR (SetWrittenFor).
var writtenFor atomic.Int64 // nanoseconds

func init() { writtenFor.Store(int64(10 * time.Minute)) }

// SetWrittenFor sets how long a device's newest day counts as being
// written after its last reading arrived; 0 compacts such days at once.
func SetWrittenFor(d time.Duration) { writtenFor.Store(int64(d)) }

// WrittenSince is when a device must last have been heard from for its
// newest day to count as being written, as of now.
func WrittenSince(now time.Time) time.Time {
	return now.Add(-time.Duration(writtenFor.Load()))
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
		t0 := time.Now()
		n, err := drain(ctx, opts.Batch, func(ctx context.Context, batch int) (int, error) {
			return c.CompactBefore(ctx, t0.Add(-opts.Age), batch)
		})
		if err != nil && ctx.Err() == nil {
			log.Warn("compaction: a pass failed; trying again at the next", "err", err)
		}
		log.Debug("compaction: pass", "days", n, "took", time.Since(t0))
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
	_, err := drain(ctx, batch, func(ctx context.Context, batch int) (int, error) {
		return c.CompactBefore(ctx, cutoff, batch)
	})
	return err
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

// SamplesOf is SampleOf of each of rs, in rs's order.
func SamplesOf(rs []thermowatt.Stored) []rollup.Sample {
	out := make([]rollup.Sample, len(rs))
	for i, r := range rs {
		out[i] = SampleOf(r.Reading)
	}
	return out
}

// BlockDay is the span of time one block holds: one UTC day of one
// device's readings.
const BlockDay = 24 * time.Hour

// Block is one device's compacted readings of one day, as a store keeps
// it: a tscodec block.
type Block struct {
	DeviceID string
	Day      time.Time // the day's start
	Data     []byte
}

// PageWithBlocks merges into rows (the newest-first answer of q from the
// uncompacted readings, at most q.Limit) the compacted readings q asks
// for, and returns the first q.Limit of them all. next gives the blocks
// that may hold some, newest day first (ok false after the last); none
// is decoded once its day starts after the q.Limit-th reading found.
func PageWithBlocks(q Query, rows []thermowatt.Stored, next func() (b Block, ok bool, err error)) ([]thermowatt.Stored, error) {
	out := rows
	for {
		b, ok, err := next()
		if err != nil || !ok {
			return out, err
		}
		if len(out) >= q.Limit && out[q.Limit-1].RecordedAt.Before(b.Day) {
			return out, nil // this day and every one after are older than the page
		}
		rs, err := tscodec.DecodeBlock(b.DeviceID, b.Data)
		if err != nil {
			return nil, fmt.Errorf("compacted readings of %q on %s: %w", b.DeviceID, b.Day.Format(time.DateOnly), err)
		}
		for _, r := range rs {
			if q.Matches(r) {
				out = append(out, r)
			}
		}
		SortNewestFirst(out)
		out = out[:min(len(out), q.Limit)]
	}
}

// ExpireBlock removes from a block up to budget of its readings recorded
// before cutoff, the oldest first. It returns how many it removed and the
// block of the readings left (nil when none is).
func ExpireBlock(b Block, cutoff time.Time, budget int) (gone int, left []byte, err error) {
	rs, err := tscodec.DecodeBlock(b.DeviceID, b.Data)
	if err != nil {
		return 0, nil, fmt.Errorf("compacted readings of %q on %s: %w", b.DeviceID, b.Day.Format(time.DateOnly), err)
	}
	for gone < len(rs) && gone < budget && rs[gone].RecordedAt.Before(cutoff) {
		gone++
	}
	switch {
	case gone == len(rs):
		return gone, nil, nil
	case gone == 0:
		return 0, b.Data, nil
	}
	left, err = tscodec.EncodeBlock(rs[gone:])
	return gone, left, err
}

// SeriesOfSamples folds samples (oldest first) into buckets of width
// microseconds aligned to the epoch, as Series defines them.
func SeriesOfSamples(samples []rollup.Sample, width int64) []SeriesPoint {
	var (
		out   []SeriesPoint
		start int64
		count int64
		aggs  [rollup.NumMetrics]rollup.Agg
		open  bool
	)
	flush := func() {
		p := SeriesPoint{Time: time.UnixMicro(start).UTC(), Count: count}
		for m := range aggs {
			p.Stats[m] = StatsOf(aggs[m])
		}
		out = append(out, p)
	}
	for _, sm := range samples {
		b := sm.At - sm.At%width
		if sm.At%width < 0 { // before 1970: floor, as BucketStart
			b -= width
		}
		if !open || b != start {
			if open {
				flush()
			}
			start, count, aggs, open = b, 0, [rollup.NumMetrics]rollup.Agg{}, true
		}
		count++
		for m, v := range sm.Values {
			if v != nil {
				aggs[m].Add(*v)
			}
		}
	}
	if open {
		flush()
	}
	return out
}

// MergeSamples merges two oldest-first runs of samples into one.
func MergeSamples(a, b []rollup.Sample) []rollup.Sample {
	if len(b) == 0 {
		return a
	}
	out := append(a, b...)
	slices.SortStableFunc(out, func(x, y rollup.Sample) int { return cmp.Compare(x.At, y.At) })
	return out
}
