package sqlite

import (
	"context"
	"sync"
)

// WatchRevocations reports every token this process revokes: forget(id)
// is called by RevokeToken right after its commit. live(true) is called at
// once and live(false) when ctx ends; it blocks until then.
//
// Only revocations made through this Store are heard. The SQLite store is
// meant for one server process (it is the embedded default); a second
// process writing the same file (another `thermowatt serve`, or `thermowatt
// token revoke` run beside a running server) revokes in the
// database, but a cache fed by this process does not learn of it and keeps
// admitting the token until its entry expires. Revoke through the running
// server's API, or restart it, when several processes share a file.
func (s *Store) WatchRevocations(ctx context.Context, forget func(tokenID string), live func(bool)) {
	s.revoked.add(forget)
	live(true)
	<-ctx.Done()
	live(false)
}

type revocationHooks struct {
	mu     sync.Mutex
	forget []func(string)
}

func (h *revocationHooks) add(f func(string)) {
	h.mu.Lock()
	h.forget = append(h.forget, f)
	h.mu.Unlock()
}

func (h *revocationHooks) call(id string) {
	h.mu.Lock()
	fs := h.forget
	h.mu.Unlock()
	for _, f := range fs {
		f(id)
	}
}
