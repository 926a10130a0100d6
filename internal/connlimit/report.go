package connlimit

import (
	"log/slog"
	"sync"
	"time"
)

// Reporter logs refused connections at a bounded rate. A flood refuses
// thousands of connections a second; a line for each would fill the log
// (and cost more than the refusal). The first refusal after a quiet
// spell is logged at once, so the start of a flood shows without delay;
// those that follow are counted and logged together at most once per
// interval, with their counts, until a whole interval passes without any.
type Reporter struct {
	log   *slog.Logger
	every time.Duration
	open  func() int // connections open now, for the line; may be nil

	mu      sync.Mutex
	pending map[Reason]int
	since   time.Time
	timer   *time.Timer // non-nil while a line is due within every
	closed  bool
}

// NewReporter logs to log at most one line per every. open, when not
// nil, is called for each line to show how many connections are open.
func NewReporter(log *slog.Logger, every time.Duration, open func() int) *Reporter {
	return &Reporter{log: log, every: every, open: open, pending: map[Reason]int{}}
}

// Refused counts one refused connection (a Config.OnRefuse).
func (r *Reporter) Refused(reason Reason) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if len(r.pending) == 0 {
		r.since = time.Now()
	}
	r.pending[reason]++
	if r.timer != nil {
		r.mu.Unlock()
		return
	}
	// Quiet until now: log at once and hold further lines back one interval.
	counts, since := r.take()
	r.timer = time.AfterFunc(r.every, r.tick)
	r.mu.Unlock()
	r.write(counts, since)
}

// tick writes what was counted during the last interval; with nothing
// counted the reporter falls quiet, and the next refusal is logged at once.
func (r *Reporter) tick() {
	r.mu.Lock()
	if r.closed || len(r.pending) == 0 {
		r.timer = nil
		r.mu.Unlock()
		return
	}
	counts, since := r.take()
	r.timer = time.AfterFunc(r.every, r.tick)
	r.mu.Unlock()
	r.write(counts, since)
}

// Close writes what is still counted and stops the timer.
func (r *Reporter) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	counts, since := r.take()
	r.mu.Unlock()
	if len(counts) > 0 {
		r.write(counts, since)
	}
}

// take empties the counts; r.mu is held.
func (r *Reporter) take() (map[Reason]int, time.Time) {
	counts, since := r.pending, r.since
	r.pending = map[Reason]int{}
	return counts, since
}

func (r *Reporter) write(counts map[Reason]int, since time.Time) {
	attrs := []any{
		"total_cap", counts[Total],
		"address_cap", counts[Address],
		"since", since.UTC().Format(time.RFC3339Nano),
	}
	if r.open != nil {
		attrs = append(attrs, "open", r.open())
	}
	r.log.Warn("connections refused", attrs...)
}
