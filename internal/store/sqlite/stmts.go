package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps the prepared statements of one pool for the life of the
// store. Compiling SQL is a large part of a short statement's cost in
// SQLite (a token lookup, one reading of the fleet): a *sql.Stmt is
// compiled once per connection and then only bound and stepped.
//
// Only fixed SQL text belongs here (constants, or one of the few shapes
// readingsQuery builds), so the cache stays small.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// get returns the statement for query, preparing it on first use. The
// lock is not held while preparing, which may wait for a connection: a
// transaction holding the only one (":memory:") may itself be in inTx.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, ok := c.m[query]; ok { // prepared meanwhile by another caller
		st.Close()
		return first, nil
	}
	c.m[query] = st
	return st, nil
}

// query runs a cached statement that returns rows.
func (c *stmtCache) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// inTx returns the statement for query bound to tx. A statement prepared
// on the pool beforehand (see prepareAll) is reused: on the write pool's
// one connection database/sql binds the compiled statement to tx rather
// than compiling it again, and closing the result does not finalise it.
// Any other query is prepared in tx, once: it cannot be prepared on the
// pool here, since tx holds the pool's only connection.
func (c *stmtCache) inTx(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if !ok {
		return tx.PrepareContext(ctx, query)
	}
	return tx.StmtContext(ctx, st), nil
}

// prepareAll prepares queries ahead of their use in transactions.
func (c *stmtCache) prepareAll(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, err := c.get(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}
