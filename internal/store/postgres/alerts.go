package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// OpenAlert opens an alert once; see store.Alerts. The partial unique index
// alerts_one_open decides between racing callers: the loser's INSERT
// waits for the winner's commit and then does nothing.
func (s *Store) OpenAlert(ctx context.Context, a thermowatt.NewAlert) (bool, error) {
	var ifLastSeen *time.Time
	if a.IfLastSeen != nil {
		t := store.UTC(*a.IfLastSeen)
		ifLastSeen = &t
	}
	// The rows RETURNING gives, not the command tag: on Citus the tag of
	// INSERT ... SELECT into a reference table counts the rows selected,
	// whether or not ON CONFLICT skipped them.
	rows, err := s.pool.Query(ctx, `
		INSERT INTO alerts (device_id, kind, message, opened_at)
		SELECT id, $2, $3, $4 FROM devices
		WHERE id = $1 AND ($5::timestamptz IS NULL OR last_seen_at <= $5)
		ON CONFLICT (device_id, kind, rule_id) WHERE resolved_at IS NULL DO NOTHING
		RETURNING id`,
		a.DeviceID, a.Kind, a.Message, store.UTC(a.At), ifLastSeen)
	if err != nil {
		return false, fmt.Errorf("postgres: open %s alert of %q: %w", a.Kind, a.DeviceID, mapError(ctx, err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return false, fmt.Errorf("postgres: open %s alert of %q: %w", a.Kind, a.DeviceID, mapError(ctx, err))
	}
	return len(ids) == 1, nil
}

// ResolveAlert resolves an open alert once; see store.Alerts.
func (s *Store) ResolveAlert(ctx context.Context, deviceID, kind string, at time.Time, needData bool) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE alerts a SET resolved_at = $3
		WHERE device_id = $1 AND kind = $2 AND resolved_at IS NULL
		  AND (NOT $4 OR EXISTS (SELECT 1 FROM devices d WHERE d.id = a.device_id AND d.last_seen_at > a.opened_at))`,
		deviceID, kind, store.UTC(at), needData)
	if err != nil {
		return false, fmt.Errorf("postgres: resolve %s alert of %q: %w", kind, deviceID, mapError(ctx, err))
	}
	return tag.RowsAffected() == 1, nil
}

const alertColumns = `id, device_id, kind, message, opened_at, resolved_at, opened_notified_at,
	resolved_notified_at, notify_attempts, next_attempt_at, coalesce(last_error, ''), coalesce(claim_token, '')`

func scanAlert(row pgx.CollectableRow) (thermowatt.Alert, error) {
	var a thermowatt.Alert
	err := row.Scan(&a.ID, &a.DeviceID, &a.Kind, &a.Message, &a.OpenedAt, &a.ResolvedAt, &a.OpenedNotifiedAt,
		&a.ResolvedNotifiedAt, &a.NotifyAttempts, &a.NextAttemptAt, &a.LastError, &a.Claim)
	a.OpenedAt = a.OpenedAt.UTC()
	for _, t := range []**time.Time{&a.ResolvedAt, &a.OpenedNotifiedAt, &a.ResolvedNotifiedAt, &a.NextAttemptAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	return a, err
}

// ListAlerts returns alerts newest first; see store.Alerts.
func (s *Store) ListAlerts(ctx context.Context, q store.AlertQuery) ([]thermowatt.Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE (NOT $1 OR resolved_at IS NULL) AND ($2 = '' OR device_id = $2)
		ORDER BY opened_at DESC, id DESC LIMIT $3`, q.OpenOnly, q.DeviceID, max(q.Limit, 1))
	if err != nil {
		return nil, fmt.Errorf("postgres: list alerts: %w", mapError(ctx, err))
	}
	as, err := pgx.CollectRows(rows, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("postgres: list alerts: %w", mapError(ctx, err))
	}
	return as, nil
}

// ClaimAlerts claims alerts to notify; see store.Alerts. SKIP LOCKED lets
// two claimers at the same instant take different rows instead of one
// waiting for the other and then taking nothing.
func (s *Store) ClaimAlerts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]thermowatt.Alert, error) {
	claim, err := store.NewClaim()
	if err != nil {
		return nil, err
	}
	now = store.UTC(now)
	rows, err := s.pool.Query(ctx, `
		UPDATE alerts SET claimed_until = $2, claim_token = $3
		WHERE id IN (
			SELECT id FROM alerts
			WHERE (opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL))
			  AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
			  AND (claimed_until IS NULL OR claimed_until < $1)
			ORDER BY id LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING `+alertColumns, now, now.Add(lease), claim, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim alerts: %w", mapError(ctx, err))
	}
	as, err := pgx.CollectRows(rows, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim alerts: %w", mapError(ctx, err))
	}
	return as, nil
}

// MarkNotified records a delivered transition; see store.Alerts.
func (s *Store) MarkNotified(ctx context.Context, id int64, claim, transition string, at time.Time) error {
	col, err := notifiedColumn(transition)
	if err != nil {
		return err
	}
	stillPending := stillPendingAfter(transition)
	_, err = s.pool.Exec(ctx, `UPDATE alerts SET `+col+` = $3, notify_attempts = 0, next_attempt_at = NULL, last_error = NULL,
			-- the claim ends with the last pending transition
			claimed_until = CASE WHEN `+stillPending+` THEN claimed_until END,
			claim_token = CASE WHEN `+stillPending+` THEN claim_token END
		WHERE id = $1 AND claim_token = $2 AND `+col+` IS NULL`, id, claim, store.UTC(at))
	if err != nil {
		return fmt.Errorf("postgres: mark alert %d notified: %w", id, mapError(ctx, err))
	}
	return nil
}

// NotifyFailed records a failed delivery; see store.Alerts.
func (s *Store) NotifyFailed(ctx context.Context, id int64, claim, errMsg string, next time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE alerts SET notify_attempts = notify_attempts + 1, last_error = $3,
		next_attempt_at = $4, claimed_until = NULL, claim_token = NULL
		WHERE id = $1 AND claim_token = $2`, id, claim, errMsg, store.UTC(next))
	if err != nil {
		return fmt.Errorf("postgres: record failed notification of alert %d: %w", id, mapError(ctx, err))
	}
	return nil
}

// stillPendingAfter is the SQL condition under which an alert still has
// a transition to notify once transition is marked.
func stillPendingAfter(transition string) string {
	if transition == thermowatt.TransitionOpened {
		return "resolved_at IS NOT NULL"
	}
	return "false"
}

func notifiedColumn(transition string) (string, error) {
	switch transition {
	case thermowatt.TransitionOpened:
		return "opened_notified_at", nil
	case thermowatt.TransitionResolved:
		return "resolved_notified_at", nil
	}
	return "", fmt.Errorf("unknown alert transition %q", transition)
}

// CountOpenAlerts counts the open alerts by kind, from the alerts_one_open
// index.
func (s *Store) CountOpenAlerts(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, count(*) FROM alerts WHERE resolved_at IS NULL GROUP BY kind`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count open alerts: %w", mapError(ctx, err))
	}
	defer rows.Close()
	counts, err := store.ScanCounts[string](rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: count open alerts: %w", mapError(ctx, err))
	}
	return counts, nil
}
