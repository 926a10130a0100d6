package limit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
)

// ErrBusy means a request found every slot taken for longer than it may
// wait. It wraps thermowatt.ErrUnavailable, so whatever treats "unavailable" as
// "retry later" does the same with it; the HTTP layer answers 503 with a
// short Retry-After.
var ErrBusy = fmt.Errorf("%w: too many database operations at once", thermowatt.ErrUnavailable)

// Gate is a counting semaphore with a bounded wait.
type Gate struct {
	slots chan struct{}
	wait  time.Duration
}

// NewGate admits n holders at once; others wait up to wait for a slot.
func NewGate(n int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, n), wait: wait}
}

// Acquire takes a slot, waiting at most the gate's wait (and never past
// ctx). It returns ErrBusy when none came free, or ctx's error.
func (g *Gate) Acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	if g.wait <= 0 {
		return ErrBusy
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release gives a slot back.
func (g *Gate) Release() { <-g.slots }

// InUse is the number of slots taken.
func (g *Gate) InUse() int { return len(g.slots) }

// run calls fn holding a slot, with a context bounded by timeout.
func (g *Gate) run(ctx context.Context, timeout time.Duration, fn func(ctx context.Context) error) error {
	if err := g.Acquire(ctx); err != nil {
		return err
	}
	defer g.Release()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	err := fn(ctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		// Our own timeout, not the caller's: the database is too slow.
		return fmt.Errorf("%w: database call took longer than %s: %w", thermowatt.ErrUnavailable, timeout, err)
	}
	return err
}
