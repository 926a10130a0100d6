package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
)

// CountFailures adds to a device's failure counts; see store.FailureCounts.
func (s *Store) CountFailures(ctx context.Context, deviceID string, rejected, authFailures int, at time.Time) (err error) {
	if rejected == 0 && authFailures == 0 {
		return nil
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("sqlite: count failures of %q: %w", deviceID, mapError(ctx, err))
		}
	}()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE devices SET rejected_count = rejected_count + ?, auth_failures = auth_failures + ?
		WHERE id = ?`, rejected, authFailures, deviceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // not a registered device: nothing to count against
	}
	minute := micros(at.Truncate(time.Minute))
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO device_failures (device_id, minute, rejected, auth_failures) VALUES (?, ?, ?, ?)
		ON CONFLICT (device_id, minute) DO UPDATE
		SET rejected = rejected + excluded.rejected, auth_failures = auth_failures + excluded.auth_failures`,
		deviceID, minute, rejected, authFailures); err != nil {
		return err
	}
	return tx.Commit()
}

// FailuresSince sums failures per device; see store.FailureCounts.
func (s *Store) FailuresSince(ctx context.Context, since time.Time) (map[string]thermowatt.Failures, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT device_id, sum(rejected), sum(auth_failures) FROM device_failures
		WHERE minute >= ? GROUP BY device_id`, micros(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: failures: %w", mapError(ctx, err))
	}
	defer rows.Close()
	out := map[string]thermowatt.Failures{}
	for rows.Next() {
		var (
			id string
			f  thermowatt.Failures
		)
		if err := rows.Scan(&id, &f.Rejected, &f.AuthFailures); err != nil {
			return nil, fmt.Errorf("sqlite: failures: %w", mapError(ctx, err))
		}
		out[id] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: failures: %w", mapError(ctx, err))
	}
	return out, nil
}
