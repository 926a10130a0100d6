package postgres

import (
	"log/slog"
	"sync/atomic"
)

// storeLog is where a Store's background work (the materializer's
// transactions, the compactor's locks, the page-giving of pending_shrink.go)
// writes its debug lines: what holds what, and for how long, to set
// beside a soak's slow seconds.
type storeLog = atomic.Pointer[slog.Logger]

// SetLogger has the store's background work log to l (debug lines).
func (s *Store) SetLogger(l *slog.Logger) { s.log.Store(l) }

// logger is SetLogger's, or one that discards.
func (s *Store) logger() *slog.Logger {
	if l := s.log.Load(); l != nil {
		return l
	}
	return discard
}

var discard = slog.New(slog.DiscardHandler)
