package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store/sqlstore"
)

// Every request is authenticated by looking its token up by id. A fleet
// posting single readings makes that one query per request, and the
// profile of `make bench` (docs/benchmarks.md) showed those round trips as
// the largest cost of a request. A cache would not help a real fleet: each
// device posts once every five minutes, so its token is seldom still
// cached. Instead, lookups that arrive while others are in flight wait and
// are answered together by one query (as group commit does for writes).
// An idle server still looks a token up at once, in a query of its own.

// maxTokenQueries bounds the lookup queries in flight at once; further
// lookups queue and share the next query.
const maxTokenQueries = 2

// tokenLookupTimeout bounds one shared lookup, which runs on behalf of
// several requests and so does not take any one request's context.
const tokenLookupTimeout = 10 * time.Second

type tokenLookups struct {
	mu       sync.Mutex
	pending  []*tokenLookup
	inFlight int
}

type tokenLookup struct {
	id   string
	t    thermowatt.Token
	err  error
	done chan struct{}
}

// get returns the unrevoked token id, sharing a query with concurrent
// callers.
func (l *tokenLookups) get(ctx context.Context, s *Store, id string) (thermowatt.Token, error) {
	w := &tokenLookup{id: id, done: make(chan struct{})}
	l.mu.Lock()
	l.pending = append(l.pending, w)
	lead := l.inFlight < maxTokenQueries
	if lead {
		l.inFlight++
	}
	l.mu.Unlock()
	if lead {
		l.round(s)
	}
	select {
	case <-w.done:
		return w.t, w.err
	case <-ctx.Done():
		return thermowatt.Token{}, ctx.Err()
	}
}

// round answers everything pending with one query. When more has queued
// meanwhile, the next round runs in a goroutine of its own, so that the
// request that ran this one is not held up serving others.
func (l *tokenLookups) round(s *Store) {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	if len(batch) == 0 {
		l.inFlight--
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()

	ids := make([]string, len(batch))
	for i, w := range batch {
		ids[i] = w.id
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenLookupTimeout)
	found, err := s.tokensByID(ctx, ids)
	cancel()
	for _, w := range batch {
		switch t, ok := found[w.id]; {
		case err != nil:
			w.err = err
		case !ok:
			w.err = fmt.Errorf("token %q: %w", w.id, thermowatt.ErrNotFound)
		default:
			w.t = t
		}
		close(w.done)
	}

	l.mu.Lock()
	more := len(l.pending) > 0
	if !more {
		l.inFlight--
	}
	l.mu.Unlock()
	if more {
		go l.round(s)
	}
}

// genericPlanIDs is how many ids a lookup query is sent with at least.
//
// PostgreSQL plans a prepared statement anew for each execution (a custom
// plan) unless the plan made for any values (the generic plan) is
// estimated no dearer. The generic plan of id = ANY($1) assumes 10 ids; a
// custom plan for fewer is estimated cheaper, so the lookup was planned
// again for every query: half of its ~80 µs of PostgreSQL CPU. Padded to
// 10 ids (repeats of the first, which the index scan drops), the lookup
// gets the generic plan from its sixth execution on, the same index scan.
const genericPlanIDs = 10

// tokensByID returns the unrevoked tokens among ids, by id.
func (s *Store) tokensByID(ctx context.Context, ids []string) (map[string]thermowatt.Token, error) {
	n := len(ids)
	if n == 0 {
		return nil, nil
	}
	padded := ids
	if n < genericPlanIDs {
		padded = make([]string, genericPlanIDs)
		copy(padded, ids)
		for i := n; i < genericPlanIDs; i++ {
			padded[i] = ids[0]
		}
	}
	rows, err := db{s.pool}.Query(ctx, `SELECT `+sqlstore.TokenColumns+` FROM tokens WHERE id = ANY($1) AND revoked_at IS NULL`, padded)
	if err != nil {
		return nil, fmt.Errorf("postgres: look up %d tokens: %w", n, mapError(ctx, err))
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: look up %d tokens: %w", n, mapError(ctx, err))
	}
	defer rows.Close()
	found := make(map[string]thermowatt.Token, n)
	for rows.Next() {
		t, err := sqlstore.ScanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: look up %d tokens: %w", n, mapError(ctx, err))
		}
		found[t.ID] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: look up %d tokens: %w", n, mapError(ctx, err))
	}
	return found, nil
}
