package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// CountFailures adds to a device's failure counts; see store.FailureCounts. The
// lifetime counters and the minute bucket change in one statement.
func (s *Store) CountFailures(ctx context.Context, deviceID string, rejected, authFailures int, at time.Time) error {
	if rejected == 0 && authFailures == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `
		WITH dev AS (
			UPDATE devices SET rejected_count = rejected_count + $2, auth_failures = auth_failures + $3
			WHERE id = $1 RETURNING id
		)
		INSERT INTO device_failures AS f (device_id, minute, rejected, auth_failures)
		SELECT id, date_trunc('minute', $4::timestamptz), $2, $3 FROM dev
		ON CONFLICT (device_id, minute) DO UPDATE
		SET rejected = f.rejected + EXCLUDED.rejected, auth_failures = f.auth_failures + EXCLUDED.auth_failures`,
		deviceID, rejected, authFailures, store.UTC(at))
	if err != nil {
		return fmt.Errorf("postgres: count failures of %q: %w", deviceID, mapError(ctx, err))
	}
	return nil
}

// FailuresSince sums failures per device; see store.FailureCounts.
func (s *Store) FailuresSince(ctx context.Context, since time.Time) (map[string]thermowatt.Failures, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT device_id, sum(rejected), sum(auth_failures) FROM device_failures
		WHERE minute >= $1 GROUP BY device_id`, store.UTC(since))
	if err != nil {
		return nil, fmt.Errorf("postgres: failures: %w", mapError(ctx, err))
	}
	out := map[string]thermowatt.Failures{}
	var (
		id string
		f  thermowatt.Failures
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &f.Rejected, &f.AuthFailures}, func() error {
		out[id] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: failures: %w", mapError(ctx, err))
	}
	return out, nil
}
