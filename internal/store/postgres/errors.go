package postgres

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/thermowatt/thermowatt/internal/store"
)

// mapError maps err as store.MapError says, with unavailable (below) as
// what "the database cannot take this now" means here.
var mapError = store.ErrorMapper(unavailable)

func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case strings.HasPrefix(pgErr.Code, "53"): // insufficient resources: disk full, out of memory, too many connections
			return true
		case pgErr.Code == "57P01", // admin_shutdown
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03", // cannot_connect_now (starting up, in recovery)
			pgErr.Code == "25006", // read_only_sql_transaction (a standby, or a failover in progress)
			pgErr.Code == "40001", // serialization_failure, left after retries
			pgErr.Code == "40P01": // deadlock_detected, left after retries
			return true
		case pgErr.Code == "23514" && pgErr.ConstraintName == pastBound:
			// check_violation of the constraint that proves the past
			// partition's new bound while it is moved (shrinkPast): the
			// reading is stored in its week once the move is done.
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	switch {
	case errors.As(err, &connectErr), errors.Is(err, puddle.ErrClosedPool):
		return true
	}
	// A connection that broke in the middle of a query (server restart,
	// network cut).
	return connectionLost(err)
}

// retryable reports whether a call that failed with err may simply be run
// again, and whether the pool's connections should be dropped first.
//
//   - PostgreSQL chose the transaction as the victim of a deadlock or of
//     a serialization conflict and rolled it back: run it again.
//   - The connection was lost (the server restarted, failed over, or an
//     administrator ended the sessions): the other idle connections in the
//     pool are most likely dead too, so drop them all and run it again on
//     a new one. The statements are idempotent, so even in the rare case
//     where the commit happened and only its answer was lost, running it
//     again stores nothing twice (it reports duplicates instead).
func retryable(err error) (retry, reset bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40P01", "40001": // deadlock_detected, serialization_failure
			return true, false
		case "57P01", "57P02": // admin_shutdown, crash_shutdown
			return true, true
		}
		return false, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false, false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return false, false // cannot connect at all: no use trying at once
	}
	if pgconn.SafeToRetry(err) || connectionLost(err) {
		return true, true
	}
	return false, false
}

// connectionLost reports whether err says an established connection broke.
func connectionLost(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") ||
		strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe")
}

// maxAttempts bounds how often a call is run when it keeps failing in a
// way retryable says is worth another try.
const maxAttempts = 3

// withRetry runs fn until it succeeds, fails in a way not worth retrying,
// or has run maxAttempts times; it returns fn's last error.
func (s *Store) withRetry(ctx context.Context, fn func() error) error {
	var err error
	for range maxAttempts {
		if err = fn(); err == nil || ctx.Err() != nil {
			return err
		}
		retry, reset := retryable(err)
		if !retry {
			return err
		}
		if reset {
			s.pool.Reset()
		}
	}
	return err
}
