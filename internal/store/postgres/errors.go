package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/thermowatt/thermowatt/internal/store"
)

// mapError turns err into what callers of store.Store can act on: a
// context error stays one (the caller gave up), errors that mean "the
// database cannot take this right now, try again later" wrap
// store.ErrUnavailable (the API answers 503), anything else is returned
// as is (a bug or a constraint violation: 500).
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		// pgx may report a cancelled query as a closed connection; say
		// what actually happened.
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if unavailable(err) {
		return store.Unavailable(err)
	}
	return err
}

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
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, puddle.ErrClosedPool):
		return true
	}
	// A connection that broke in the middle of a query (server restart,
	// network cut) surfaces as an unexpected EOF or a closed connection.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") ||
		strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "connection reset")
}

// retryable reports whether a transaction that failed with err may simply
// be run again: PostgreSQL chose it as the victim of a deadlock or of a
// serialization conflict and rolled it back.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
