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
	// Interval is the pause between passes. A mark younger than one
	// Interval waits for the next pass, so an hour that readings keep
	// arriving in (the current one) is recomputed about once per two
	// Intervals, not after every reading.
	Interval time.Duration
	// Batch is how many hours one transaction recomputes: small enough
	// that the devices it holds (ingest of those devices waits for it) are
	// held for milliseconds.
	Batch int
}

// DefaultMaterializer is what serve runs.
var DefaultMaterializer = MaterializerOptions{Interval: time.Second, Batch: 64}

// RunMaterializer recomputes pending roll-up hours until ctx ends: every
// Interval, batches of hours marked at least one Interval ago until none
// is left. A failed pass is logged and tried again at the next; reads stay
// exact meanwhile, only slower for the hours left pending.
func RunMaterializer(ctx context.Context, r Rollups, opts MaterializerOptions, log *slog.Logger) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultMaterializer.Interval
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultMaterializer.Batch
	}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := MaterializePass(ctx, r, opts.Batch, time.Now().Add(-opts.Interval)); err != nil && ctx.Err() == nil {
			log.Warn("roll-ups: materializing pending hours failed; trying again at the next pass", "err", err)
		}
	}
}

// MaterializePass recomputes, batch by batch, every hour marked before
// markedBefore.
func MaterializePass(ctx context.Context, r Rollups, batch int, markedBefore time.Time) error {
	for {
		n, err := r.MaterializeRollups(ctx, batch, markedBefore)
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
