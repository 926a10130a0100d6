package store

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// MaterializerOptions say how often RunMaterializer works and how much at
// once.
type MaterializerOptions struct {
	// Interval is the pause between passes.
	Interval time.Duration
	// MinAge is how long a mark waits before a pass takes it (Interval
	// when 0). An hour that readings keep arriving in (each device's
	// current one) is marked again as soon as it is materialized, so it is
	// recomputed about once per MinAge: every second, a device sending
	// every second would have its hour of up to 3,600 readings read again
	// every second or two. Reads do not wait for it: they compute the
	// hours still pending from the readings.
	MinAge time.Duration
	// Batch is how many hours one transaction recomputes: small enough
	// that what it holds (PostgreSQL: the devices of its hours, which
	// ingest of those devices waits for; SQLite: the writer, for the write
	// only) is held for milliseconds.
	Batch int
}

// WaitPerReading is how much longer than markedBefore a mark waits for
// the materializer for every reading its hour held when last
// materialized. Recomputing an hour reads all of it, so an hour that
// readings keep arriving in (a device sending every second: 3,600 an
// hour) cost more at every pass as it filled, and the materializer's CPU
// per stored reading grew for the first half hour and stayed high (the
// soak's CPU per POST with it). Waiting in proportion bounds what it
// reads per device (an hour's readings every count × WaitPerReading: at
// most 20 readings a second, whatever the device sends) and makes it
// level off within minutes, at the price of lag for such hours (3 min
// more for a full hour of 3,600; 0.6 s for a device sending every 5
// minutes). Reads do not wait: they compute the hours still pending.
const WaitPerReading = 50 * time.Millisecond

// MaterializeReadings bounds what one transaction of a materializer
// recomputes: the hours it claims held about this many readings in all
// when last materialized (at least one hour is taken, however full). What
// such a transaction holds is waited for by ingest (PostgreSQL: the
// state rows of its hours' devices, share-locked while their readings are
// read; SQLite: the writer, while the hours marked again since its
// snapshot are computed anew), and a group commit holds many devices: at
// Batch hours of a device sending every second (64 x 3,600 readings and
// more) every commit waited for it, longer as the hours filled, and the
// soak's p99 rose with them (docs/benchmarks.md, "Flat under time"). A
// device sending every 5 minutes has 12 readings an hour: Batch still
// bounds such fleets' transactions. MaterializeRollups goes on with the
// next transaction until it has done its limit or nothing is left.
const MaterializeReadings = 4000

// DefaultMaterializer is what serve runs.
var DefaultMaterializer = MaterializerOptions{Interval: time.Second, MinAge: 10 * time.Second, Batch: 64}

// RunMaterializer recomputes pending roll-up hours until ctx ends: every
// Interval, batches of hours marked at least MinAge ago until none is
// left. A failed pass is logged and tried again at the next; reads stay
// exact meanwhile, only slower for the hours left pending.
func RunMaterializer(ctx context.Context, r Rollups, opts MaterializerOptions, log *slog.Logger) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultMaterializer.Interval
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultMaterializer.Batch
	}
	if opts.MinAge <= 0 {
		opts.MinAge = opts.Interval
	}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t0 := time.Now()
		n, err := drain(ctx, opts.Batch, func(ctx context.Context, batch int) (int, error) {
			return r.MaterializeRollups(ctx, batch, t0.Add(-opts.MinAge))
		})
		if err != nil && ctx.Err() == nil {
			log.Warn("roll-ups: materializing pending hours failed; trying again at the next pass", "err", err)
		}
		if n > 0 {
			log.Debug("roll-ups: materializer pass", "hours", n, "took", time.Since(t0))
		}
	}
}

// MaterializePass recomputes, batch by batch, every hour marked before
// markedBefore.
func MaterializePass(ctx context.Context, r Rollups, batch int, markedBefore time.Time) error {
	_, err := drain(ctx, batch, func(ctx context.Context, batch int) (int, error) {
		return r.MaterializeRollups(ctx, batch, markedBefore)
	})
	return err
}

// drain calls step, which does up to batch units of background work and
// says how many it did, until a call does less than a batch: nothing is
// left, and returns how many units it did in all. A cancelled ctx ends
// it without an error (the job is stopping).
func drain(ctx context.Context, batch int, step func(ctx context.Context, batch int) (int, error)) (int, error) {
	total := 0
	for {
		n, err := step(ctx, batch)
		total += n
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return total, nil
			}
			return total, err
		}
		if n < batch {
			return total, nil
		}
	}
}
