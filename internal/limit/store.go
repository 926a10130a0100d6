package limit

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

//go:generate go test -run TestBoundStoreIsGenerated -update .

// BoundStore bounds the concurrent calls requests make on a store: each call
// holds a slot of the gate for its duration and is cut off after timeout,
// so a slow or stalled database answers 503 instead of collecting
// goroutines and pool connections.
//
// Every method of store.Store that takes a context is bounded by a method
// of the one shape in store_gen.go, generated from the interface itself
// (store_gen_test.go fails when it is out of date); the others, and those
// in unbounded, pass through the embedded store.
type BoundStore struct {
	store.Store
	gate    *Gate
	timeout time.Duration
}

// unbounded are the methods that take a context but no slot, and why.
var unbounded = map[string]string{
	"Ping":               "/readyz must tell whether the database answers even while every slot is taken by slow queries",
	"MaterializeRollups": "background work, paced by the materializer itself, not a request",
}

var _ store.Store = (*BoundStore)(nil)

// NewStore puts gate in front of s; timeout bounds each call (0: none).
func NewStore(s store.Store, gate *Gate, timeout time.Duration) *BoundStore {
	return &BoundStore{Store: s, gate: gate, timeout: timeout}
}

// Gate returns the gate, for tests and metrics.
func (s *BoundStore) Gate() *Gate { return s.gate }

// bound runs call holding a slot, under the timeout.
func (s *BoundStore) bound(ctx context.Context, call func(ctx context.Context) error) error {
	return s.gate.run(ctx, s.timeout, call)
}
