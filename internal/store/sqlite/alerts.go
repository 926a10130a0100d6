package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// OpenAlert opens an alert once; see store.Alerts.
func (s *Store) OpenAlert(ctx context.Context, a thermowatt.NewAlert) (bool, error) {
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO alerts (device_id, kind, message, opened_at)
		SELECT id, ?, ?, ? FROM devices
		WHERE id = ? AND (?5 IS NULL OR last_seen_at <= ?5)
		ON CONFLICT (device_id, kind, rule_id) WHERE resolved_at IS NULL DO NOTHING`,
		a.Kind, a.Message, micros(a.At), a.DeviceID, microsPtr(a.IfLastSeen))
	if err != nil {
		return false, fmt.Errorf("sqlite: open %s alert of %q: %w", a.Kind, a.DeviceID, mapError(ctx, err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ResolveAlert resolves an open alert once; see store.Alerts.
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

// ListAlerts returns alerts newest first; see store.Alerts.
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

// ClaimAlerts claims alerts to notify; see store.Alerts. One statement, so
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

// MarkNotified records a delivered transition; see store.Alerts.
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

// NotifyFailed records a failed delivery; see store.Alerts.
func (s *Store) NotifyFailed(ctx context.Context, id int64, claim, errMsg string, next time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE alerts SET notify_attempts = notify_attempts + 1, last_error = ?,
		next_attempt_at = ?, claimed_until = NULL, claim_token = NULL
		WHERE id = ? AND claim_token = ?`, errMsg, micros(next), id, claim)
	if err != nil {
		return fmt.Errorf("sqlite: record failed notification of alert %d: %w", id, mapError(ctx, err))
	}
	return nil
}

// CountOpenAlerts counts the open alerts by kind, from the alerts_one_open
// index.
func (s *Store) CountOpenAlerts(ctx context.Context) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT kind, count(*) FROM alerts WHERE resolved_at IS NULL GROUP BY kind`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count open alerts: %w", mapError(ctx, err))
	}
	defer rows.Close()
	counts, err := store.ScanCounts[string](rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count open alerts: %w", mapError(ctx, err))
	}
	return counts, nil
}
