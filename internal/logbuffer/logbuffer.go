// Package logbuffer holds log lines briefly, so that a busy server writes
// its request log in few system calls instead of one per line.
package logbuffer

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Buffer gathers log lines and writes them out at most every interval
// (or when 64 KiB have gathered), so that the request log, a line per
// request, costs a write system call every few hundred requests rather
// than one each. serve writes its log through one and closes it after the
// server has shut down, which writes out the rest.
//
// What a crash can lose: the lines of the last interval at most. A panic
// in a handler is recovered and logged like any line; what kills the
// process (a runtime fatal error, SIGKILL, the OOM killer) loses the lines
// not yet written, but never readings: a reading is acknowledged after its
// commit, not after its log line.
type Buffer struct {
	mu       sync.Mutex
	w        *bufio.Writer
	interval time.Duration
	pending  bool // a flush is scheduled
	closed   bool
}

// New returns a buffer in front of w that writes out what it
// holds every interval.
func New(w io.Writer, interval time.Duration) *Buffer {
	return &Buffer{w: bufio.NewWriterSize(w, 64<<10), interval: interval}
}

// Write keeps p (one log line: slog handlers write a line per call) to be
// written out within the interval. After Close it writes p at once.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	switch {
	case err != nil:
	case b.closed:
		err = b.w.Flush()
	case !b.pending && b.w.Buffered() > 0:
		b.pending = true
		time.AfterFunc(b.interval, b.scheduledFlush)
	}
	return n, err
}

func (b *Buffer) scheduledFlush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = false
	_ = b.w.Flush()
}

// Flush writes out what the buffer holds.
func (b *Buffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close writes out what the buffer holds; later lines are written at once.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.w.Flush()
}
