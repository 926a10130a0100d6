package store

import "sync"

// RevocationHooks are the functions a backend's WatchRevocations
// registered, called by that store's RevokeToken right after its commit,
// so that the instance that revokes forgets the token before its answer
// leaves, without waiting for any notification.
type RevocationHooks struct {
	mu     sync.Mutex
	forget []func(string)
}

// Add registers forget.
func (h *RevocationHooks) Add(forget func(tokenID string)) {
	h.mu.Lock()
	h.forget = append(h.forget, forget)
	h.mu.Unlock()
}

// Call tells every registered function that tokenID is revoked.
func (h *RevocationHooks) Call(tokenID string) {
	h.mu.Lock()
	fs := h.forget
	h.mu.Unlock()
	for _, f := range fs {
		f(tokenID)
	}
}
