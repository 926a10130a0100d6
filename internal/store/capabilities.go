package store

import (
	"context"
	"time"
)

// The capabilities below are what some backends do beyond Store. Code
// finds one by asserting it on the store it was given (st.(store.X));
// a store without it simply goes without the feature described. They are
// named here, in one place, so that a backend's author sees what the
// server looks for, and a capability that disappears from a backend fails
// to compile where it is checked (internal/server's tests) rather than
// turning a feature off in silence.
//
// A wrapper around a store (limit.BoundStore, the database gate) has
// Store's methods only: look capabilities up on the store itself, before
// wrapping it.

// RevocationWatcher is a store that tells this process of revoked tokens,
// so that a cache of verified tokens (auth.Verifier) can be trusted:
// WatchRevocations calls forget with each revoked token's id (or "" when
// every entry must go) and live with whether revocations are being heard
// at all, until ctx ends. PostgreSQL hears every instance sharing the
// database (LISTEN/NOTIFY); SQLite, with one process, hears its own.
type RevocationWatcher interface {
	WatchRevocations(ctx context.Context, forget func(tokenID string), live func(bool))
}

// RevocationAwaiter is a store whose several instances each keep a token
// cache (PostgreSQL): AwaitRevocation returns once every live instance
// has dropped the token, or errs after bound. DELETE /api/tokens/{id}
// answers only then, so that no instance accepts a revoked token after
// the answer.
type RevocationAwaiter interface {
	AwaitRevocation(ctx context.Context, id string, bound time.Duration) error
}

// PartitionMaintainer is a store whose readings are partitioned by time
// (PostgreSQL, by week). PartitionHistory creates the partitions of
// [since, now) (the weeks retention keeps, for backfills);
// MaintainPartitions creates the weeks ahead now and then daily until
// ctx ends, reporting each failure to errs. Both are safe with several
// instances at once.
type PartitionMaintainer interface {
	PartitionHistory(ctx context.Context, since, now time.Time) error
	MaintainPartitions(ctx context.Context, errs func(error))
}
