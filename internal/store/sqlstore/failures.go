package sqlstore

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// CountFailures adds to a device's failure counts; see store.FailureCounts.
// The lifetime counters and the minute bucket change in one transaction;
// a device that is not registered has nothing to count against.
func (s *Store) CountFailures(ctx context.Context, deviceID string, rejected, authFailures int, at time.Time) error {
	if rejected == 0 && authFailures == 0 {
		return nil
	}
	err := s.InTx(ctx, func(tx DB) error {
		n, err := tx.Exec(ctx, `UPDATE devices SET rejected_count = rejected_count + $2, auth_failures = auth_failures + $3
			WHERE id = $1`, deviceID, rejected, authFailures)
		if err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO device_failures (device_id, minute, rejected, auth_failures) VALUES ($1, $2, $3, $4)
			ON CONFLICT (device_id, minute) DO UPDATE
			SET rejected = device_failures.rejected + excluded.rejected,
				auth_failures = device_failures.auth_failures + excluded.auth_failures`,
			deviceID, store.UTC(at).Truncate(time.Minute), rejected, authFailures)
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "count failures of %q", deviceID)
	}
	return nil
}

// FailuresSince sums failures per device; see store.FailureCounts.
func (s *Store) FailuresSince(ctx context.Context, since time.Time) (map[string]thermowatt.Failures, error) {
	type sum struct {
		id string
		f  thermowatt.Failures
	}
	rows, err := s.Read.Query(ctx, `
		SELECT device_id, sum(rejected), sum(auth_failures) FROM device_failures
		WHERE minute >= $1 GROUP BY device_id`, store.UTC(since))
	sums, err := collect(rows, err, func(row Row) (v sum, err error) {
		err = row.Scan(&v.id, &v.f.Rejected, &v.f.AuthFailures)
		return v, err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "failures")
	}
	out := make(map[string]thermowatt.Failures, len(sums))
	for _, v := range sums {
		out[v.id] = v.f
	}
	return out, nil
}
