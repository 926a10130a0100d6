package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Writes below go through the one write connection, so SQLite runs them
// one at a time (and, across processes, under its write lock): racing
// checkers and retention runs are serialised by the database itself.

// SetExpectedInterval sets how often a device should send; see store.Ops.
func (s *Store) SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("sqlite: expected interval must be at least 1 s, got %d", seconds)
	}
	res, err := s.write.ExecContext(ctx, `UPDATE devices SET expected_interval_s = ? WHERE id = ?`, seconds, deviceID)
	if err != nil {
		return fmt.Errorf("sqlite: set interval of %q: %w", deviceID, mapError(ctx, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	return nil
}

// CountFailures adds to a device's failure counts; see store.Ops.
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

// FailuresSince sums failures per device; see store.Ops.
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

// HealthNear returns a device's health around a time; see store.Ops.
func (s *Store) HealthNear(ctx context.Context, deviceID string, at time.Time) (json.RawMessage, bool, error) {
	var health string
	err := s.read.QueryRowContext(ctx, `
		SELECT h FROM (
			SELECT * FROM (SELECT json_extract(payload, '$.device') AS h FROM device_measurements
				WHERE device_id = ?1 AND recorded_at <= ?2 AND json_type(payload, '$.device') = 'object'
				ORDER BY recorded_at DESC LIMIT 1)
			UNION ALL
			SELECT * FROM (SELECT json_extract(payload, '$.device') FROM device_measurements
				WHERE device_id = ?1 AND recorded_at > ?2 AND json_type(payload, '$.device') = 'object'
				ORDER BY recorded_at LIMIT 1)
		) LIMIT 1`, deviceID, micros(at)).Scan(&health)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: health of %q: %w", deviceID, mapError(ctx, err))
	}
	return json.RawMessage(health), true, nil
}

// OpenAlert opens an alert once; see store.Ops.
func (s *Store) OpenAlert(ctx context.Context, a thermowatt.NewAlert) (bool, error) {
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO alerts (device_id, kind, message, opened_at)
		SELECT id, ?, ?, ? FROM devices
		WHERE id = ? AND (?5 IS NULL OR last_seen_at <= ?5)
		ON CONFLICT (device_id, kind) WHERE resolved_at IS NULL DO NOTHING`,
		a.Kind, a.Message, micros(a.At), a.DeviceID, microsPtr(a.IfLastSeen))
	if err != nil {
		return false, fmt.Errorf("sqlite: open %s alert of %q: %w", a.Kind, a.DeviceID, mapError(ctx, err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ResolveAlert resolves an open alert once; see store.Ops.
func (s *Store) ResolveAlert(ctx context.Context, deviceID, kind string, at time.Time, needData bool) (bool, error) {
	res, err := s.write.ExecContext(ctx, `
		UPDATE alerts SET resolved_at = ?
		WHERE device_id = ? AND kind = ? AND resolved_at IS NULL
		  AND (NOT ? OR EXISTS (SELECT 1 FROM devices d WHERE d.id = alerts.device_id AND d.last_seen_at > alerts.opened_at))`,
		micros(at), deviceID, kind, needData)
	if err != nil {
		return false, fmt.Errorf("sqlite: resolve %s alert of %q: %w", kind, deviceID, mapError(ctx, err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const alertColumns = `id, device_id, kind, message, opened_at, resolved_at, opened_notified_at,
	resolved_notified_at, notify_attempts, next_attempt_at, coalesce(last_error, ''), coalesce(claim_token, '')`

func scanAlert(row scanner) (thermowatt.Alert, error) {
	var (
		a                                    thermowatt.Alert
		opened                               int64
		resolved, openedN, resolvedN, nextAt *int64
	)
	err := row.Scan(&a.ID, &a.DeviceID, &a.Kind, &a.Message, &opened, &resolved, &openedN,
		&resolvedN, &a.NotifyAttempts, &nextAt, &a.LastError, &a.Claim)
	a.OpenedAt = fromMicros(opened)
	a.ResolvedAt, a.OpenedNotifiedAt = fromMicrosPtr(resolved), fromMicrosPtr(openedN)
	a.ResolvedNotifiedAt, a.NextAttemptAt = fromMicrosPtr(resolvedN), fromMicrosPtr(nextAt)
	return a, err
}

func collectAlerts(rows *sql.Rows) ([]thermowatt.Alert, error) {
	defer rows.Close()
	var as []thermowatt.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, rows.Err()
}

// ListAlerts returns alerts newest first; see store.Ops.
func (s *Store) ListAlerts(ctx context.Context, q store.AlertQuery) ([]thermowatt.Alert, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE (NOT ?1 OR resolved_at IS NULL) AND (?2 = '' OR device_id = ?2)
		ORDER BY opened_at DESC, id DESC LIMIT ?3`, q.OpenOnly, q.DeviceID, max(q.Limit, 1))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list alerts: %w", mapError(ctx, err))
	}
	as, err := collectAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list alerts: %w", mapError(ctx, err))
	}
	return as, nil
}

// ClaimAlerts claims alerts to notify; see store.Ops. One statement, so
// the claim is atomic under SQLite's write lock.
func (s *Store) ClaimAlerts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]thermowatt.Alert, error) {
	claim, err := store.NewClaim()
	if err != nil {
		return nil, err
	}
	rows, err := s.write.QueryContext(ctx, `
		UPDATE alerts SET claimed_until = ?2, claim_token = ?3
		WHERE id IN (
			SELECT id FROM alerts
			WHERE (opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL))
			  AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
			  AND (claimed_until IS NULL OR claimed_until < ?1)
			ORDER BY id LIMIT ?4)
		RETURNING `+alertColumns, micros(now), micros(now.Add(lease)), claim, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim alerts: %w", mapError(ctx, err))
	}
	as, err := collectAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim alerts: %w", mapError(ctx, err))
	}
	return as, nil
}

// MarkNotified records a delivered transition; see store.Ops.
func (s *Store) MarkNotified(ctx context.Context, id int64, claim, transition string, at time.Time) error {
	col, stillPending := "opened_notified_at", "resolved_at IS NOT NULL"
	switch transition {
	case thermowatt.TransitionOpened:
	case thermowatt.TransitionResolved:
		col, stillPending = "resolved_notified_at", "0"
	default:
		return fmt.Errorf("unknown alert transition %q", transition)
	}
	_, err := s.write.ExecContext(ctx, `UPDATE alerts SET `+col+` = ?, notify_attempts = 0, next_attempt_at = NULL, last_error = NULL,
			-- the claim ends with the last pending transition
			claimed_until = CASE WHEN `+stillPending+` THEN claimed_until END,
			claim_token = CASE WHEN `+stillPending+` THEN claim_token END
		WHERE id = ? AND claim_token = ? AND `+col+` IS NULL`, micros(at), id, claim)
	if err != nil {
		return fmt.Errorf("sqlite: mark alert %d notified: %w", id, mapError(ctx, err))
	}
	return nil
}

// NotifyFailed records a failed delivery; see store.Ops.
func (s *Store) NotifyFailed(ctx context.Context, id int64, claim, errMsg string, next time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE alerts SET notify_attempts = notify_attempts + 1, last_error = ?,
		next_attempt_at = ?, claimed_until = NULL, claim_token = NULL
		WHERE id = ? AND claim_token = ?`, errMsg, micros(next), id, claim)
	if err != nil {
		return fmt.Errorf("sqlite: record failed notification of alert %d: %w", id, mapError(ctx, err))
	}
	return nil
}

// DeleteReadingsBefore deletes one batch of expired readings; see
// store.Ops. Each batch is its own short write transaction, so ingest
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
	rows, err := tx.QueryContext(ctx, `
		DELETE FROM device_measurements WHERE id IN (
			SELECT id FROM device_measurements WHERE recorded_at < ? ORDER BY recorded_at, id LIMIT ?)
		RETURNING device_id`, micros(cutoff), limit)
	if err != nil {
		return 0, err
	}
	perDevice := map[string]int64{}
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
	for id, k := range perDevice {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET reading_count = max(reading_count - ?, 0) WHERE id = ?`, k, id); err != nil {
			return 0, err
		}
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
