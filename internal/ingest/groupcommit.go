package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// GroupCommitter coalesces concurrent writes into shared transactions.
// A fleet posting single readings would otherwise pay one commit (one
// fsync) per request; here whatever arrives while a commit is running goes
// into the next one. Each caller is answered only after the commit that
// holds its readings, with its own counts, so the 2xx-after-commit promise
// is kept. It holds nothing between commits, so several instances behind
// a load balancer stay correct.
type GroupCommitter struct {
	w       Writer
	maxRows int
	timeout time.Duration
	queue   chan *call
	wg      sync.WaitGroup

	// closing guards the queue's senders against the workers' leaving. A
	// sender holds it shared from its check of closed until its call is in
	// the queue; Close takes it exclusively to set closed and close stop.
	// So every call that got into the queue got there before stop closed,
	// and the workers, which drain the queue after stop, commit it. Without
	// it, a select between the queue send and stop may pick the send after
	// the workers have drained and left, and its caller waits for ever.
	closing sync.RWMutex
	closed  bool
	stop    chan struct{}
}

type call struct {
	rs         []thermowatt.Reading
	receivedAt time.Time
	res        store.InsertResult
	err        error
	done       chan struct{}
}

// NewGroupCommitter starts workers committers in front of w. maxRows bounds
// the readings of one transaction; timeout bounds one commit.
func NewGroupCommitter(w Writer, workers, maxRows int, timeout time.Duration) *GroupCommitter {
	g := &GroupCommitter{w: w, maxRows: maxRows, timeout: timeout,
		queue: make(chan *call, 4*maxRows), stop: make(chan struct{})}
	for range workers {
		g.wg.Add(1)
		go g.work()
	}
	return g
}

// errShuttingDown answers the calls made once Close has begun. It is
// unavailable, so the HTTP layer answers 503 and devices retry later (on
// another instance, or this one restarted).
var errShuttingDown = fmt.Errorf("%w: the server is shutting down; retry later", thermowatt.ErrUnavailable)

// InsertReadings queues rs for the next commit and waits for it. The wait
// does not end early when ctx is cancelled: the commit may already be under
// way, and its outcome is what the caller must learn. A call made during
// or after Close returns errShuttingDown, never waits for ever.
func (g *GroupCommitter) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	c := &call{rs: rs, receivedAt: receivedAt, done: make(chan struct{})}
	if err := g.enqueue(ctx, c); err != nil {
		return store.InsertResult{}, err
	}
	<-c.done
	return c.res, c.err
}

// enqueue puts c in the queue unless Close has begun or ctx ends first.
// While it waits for room, Close waits for it (closing is held shared) and
// the workers, still running, make the room.
func (g *GroupCommitter) enqueue(ctx context.Context, c *call) error {
	g.closing.RLock()
	defer g.closing.RUnlock()
	if g.closed {
		return errShuttingDown
	}
	select {
	case g.queue <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Queued is the number of calls waiting for a commit.
func (g *GroupCommitter) Queued() int { return len(g.queue) }

// Close stops the workers after the queued calls are committed; calls made
// from now on return errShuttingDown. It may be called more than once.
func (g *GroupCommitter) Close() {
	g.closing.Lock()
	if !g.closed {
		g.closed = true
		close(g.stop)
	}
	g.closing.Unlock()
	g.wg.Wait()
}

func (g *GroupCommitter) work() {
	defer g.wg.Done()
	for {
		var first *call
		select {
		case first = <-g.queue:
		case <-g.stop:
			// Drain what was queued before the stop, then leave.
			for {
				select {
				case c := <-g.queue:
					g.commit([]*call{c})
				default:
					return
				}
			}
		}
		calls, rows := []*call{first}, len(first.rs)
	gather:
		for rows < g.maxRows {
			select {
			case c := <-g.queue:
				calls = append(calls, c)
				rows += len(c.rs)
			default:
				break gather
			}
		}
		g.commit(calls)
	}
}

// commit writes the readings of calls in one transaction and hands each
// call its share of the outcome.
//
// A shared transaction fails as a whole, so a failure caused by one call's
// readings would fail every call in it. When the failure may be caused by
// data (the database is not unavailable and no time limit ran out), the
// calls are split in halves and each half committed alone, down to single
// calls: only the call whose readings the database refuses gets the error.
// A failure that is the database's, not the data's, goes to every call at
// once, since retrying piecemeal would only add load to a sick database.
func (g *GroupCommitter) commit(calls []*call) {
	res, err := g.insert(calls)
	if err != nil && len(calls) > 1 && mayBeCausedByData(err) {
		half := len(calls) / 2
		g.commit(calls[:half])
		g.commit(calls[half:])
		return
	}
	g.answer(calls, res, err)
}

// mayBeCausedByData reports whether err could come from the readings
// themselves rather than from the database's state.
func mayBeCausedByData(err error) bool {
	return !errors.Is(err, thermowatt.ErrUnavailable) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// insert writes the readings of calls in one transaction. Each call's
// readings keep their request's received time (Reading.ReceivedAt, set on
// copies: the callers' slices are not modified); the commit's own
// receivedAt is the latest of them.
func (g *GroupCommitter) insert(calls []*call) (store.InsertResult, error) {
	rs := calls[0].rs
	receivedAt := calls[0].receivedAt
	if len(calls) > 1 {
		rs = make([]thermowatt.Reading, 0, g.maxRows)
		for _, c := range calls {
			for _, r := range c.rs {
				if r.ReceivedAt.IsZero() {
					r.ReceivedAt = c.receivedAt
				}
				rs = append(rs, r)
			}
			if c.receivedAt.After(receivedAt) {
				receivedAt = c.receivedAt
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	res, err := g.w.InsertReadings(ctx, rs, receivedAt)
	cancel()
	if err == nil && len(res.Inserted) != len(rs) {
		err = fmt.Errorf("store reported %d outcomes for %d readings", len(res.Inserted), len(rs))
	}
	return res, err
}

// answer hands each call its share of one commit's outcome.
func (g *GroupCommitter) answer(calls []*call, res store.InsertResult, err error) {
	off := 0
	for _, c := range calls {
		if err != nil {
			c.err = err
		} else {
			mine := res.Inserted[off : off+len(c.rs)]
			c.res.Inserted = mine
			for _, ok := range mine {
				if ok {
					c.res.Accepted++
				} else {
					c.res.Duplicates++
				}
			}
		}
		off += len(c.rs)
		close(c.done)
	}
}
