package sqlite

import (
	"context"
	"fmt"
	"time"
)

// DeleteReadingsBefore deletes one batch of expired readings; see
// store.Retention. Each batch is its own short write transaction, so ingest
// waits at most for one batch.
func (s *Store) DeleteReadingsBefore(ctx context.Context, cutoff time.Time, limit int) (n int64, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("sqlite: delete readings: %w", mapError(ctx, err))
		}
	}()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// The compacted readings first: they are the oldest.
	perDevice, err := deleteBlocksBefore(ctx, tx, micros(cutoff), limit)
	if err != nil {
		return 0, err
	}
	for _, k := range perDevice {
		n += k
	}
	rows, err := tx.QueryContext(ctx, `
		DELETE FROM device_measurements WHERE id IN (
			SELECT id FROM device_measurements WHERE recorded_at < ? ORDER BY recorded_at, id LIMIT ?)
		RETURNING device_id`, micros(cutoff), limit-int(n))
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		perDevice[id]++
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	deleted := make([]string, 0, len(perDevice))
	for id, k := range perDevice {
		if _, err := tx.ExecContext(ctx, `UPDATE device_state SET reading_count = max(reading_count - ?, 0) WHERE device_id = ?`, k, id); err != nil {
			return 0, err
		}
		deleted = append(deleted, id)
	}
	if err := s.trimRollups(ctx, tx, micros(cutoff), deleted); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// DeleteRawBefore deletes one batch of expired raw archive rows.
func (s *Store) DeleteRawBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	res, err := s.write.ExecContext(ctx, `
		DELETE FROM raw_measurements WHERE id IN (
			SELECT id FROM raw_measurements WHERE received_at < ? ORDER BY received_at, id LIMIT ?)`, micros(cutoff), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete raw archive: %w", mapError(ctx, err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// DeleteOpsBefore deletes old failure counts and resolved alerts.
func (s *Store) DeleteOpsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM device_failures WHERE minute < ?`,
		`DELETE FROM alerts WHERE resolved_at < ? AND resolved_notified_at IS NOT NULL`,
	} {
		res, err := s.write.ExecContext(ctx, q, micros(cutoff))
		if err != nil {
			return total, fmt.Errorf("sqlite: delete old alerts: %w", mapError(ctx, err))
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
