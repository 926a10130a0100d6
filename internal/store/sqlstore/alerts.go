package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// OpenAlert opens an alert once; see store.Alerts. The partial unique index
// alerts_one_open decides between racing callers: the loser's INSERT
// waits for the winner's commit and then does nothing.
func (s *Store) OpenAlert(ctx context.Context, a thermowatt.NewAlert) (bool, error) {
	from, args := `devices WHERE id = $1`, []any{a.DeviceID, a.Kind, a.Message, store.UTC(a.At)}
	if a.IfLastSeen != nil {
		// The device's state row (every device has one), where ingest
		// writes last_seen_at.
		from, args = `device_state WHERE device_id = $1 AND last_seen_at <= $5`, append(args, store.UTC(*a.IfLastSeen))
	}
	// The rows RETURNING gives, not the count of rows changed: on Citus
	// that of INSERT ... SELECT into a reference table counts the rows
	// selected, whether or not ON CONFLICT skipped them.
	rows, err := s.Write.Query(ctx, `
		INSERT INTO alerts (device_id, kind, message, opened_at)
		SELECT $1, $2, $3, $4 FROM `+from+`
		ON CONFLICT (device_id, kind, rule_id) WHERE resolved_at IS NULL DO NOTHING
		RETURNING id`, args...)
	ids, err := collect(rows, err, func(row Row) (id int64, err error) {
		err = row.Scan(&id)
		return id, err
	})
	if err != nil {
		return false, s.fail(ctx, err, "open %s alert of %q", a.Kind, a.DeviceID)
	}
	return len(ids) == 1, nil
}

// ResolveAlert resolves an open alert once; see store.Alerts.
func (s *Store) ResolveAlert(ctx context.Context, deviceID, kind string, at time.Time, needData bool) (bool, error) {
	cond, args := "", []any{deviceID, kind, store.UTC(at)}
	if needData {
		// The device's last-seen time read first, then compared: on Citus
		// device_state is distributed and alerts a reference table, and
		// Citus refuses a statement that reads the one and writes the
		// other. Read before, it can only be older than the time the
		// update sees, which at worst leaves the alert to the next check.
		var lastSeen *time.Time
		err := s.Read.QueryRow(ctx, `SELECT last_seen_at FROM device_state WHERE device_id = $1`, deviceID).Scan(&lastSeen)
		if errors.Is(err, sql.ErrNoRows) || err == nil && lastSeen == nil {
			return false, nil
		}
		if err != nil {
			return false, s.fail(ctx, err, "resolve %s alert of %q", kind, deviceID)
		}
		cond, args = ` AND opened_at < $4`, append(args, store.UTC(*lastSeen))
	}
	n, err := s.Write.Exec(ctx, `UPDATE alerts SET resolved_at = $3
		WHERE device_id = $1 AND kind = $2 AND resolved_at IS NULL`+cond, args...)
	if err != nil {
		return false, s.fail(ctx, err, "resolve %s alert of %q", kind, deviceID)
	}
	return n == 1, nil
}

const alertColumns = `id, device_id, kind, message, opened_at, resolved_at, opened_notified_at,
	resolved_notified_at, notify_attempts, next_attempt_at, coalesce(last_error, ''), coalesce(claim_token, '')`

func scanAlert(row Row) (thermowatt.Alert, error) {
	var a thermowatt.Alert
	err := row.Scan(&a.ID, &a.DeviceID, &a.Kind, &a.Message, &a.OpenedAt, &a.ResolvedAt, &a.OpenedNotifiedAt,
		&a.ResolvedNotifiedAt, &a.NotifyAttempts, &a.NextAttemptAt, &a.LastError, &a.Claim)
	return a, err
}

// ListAlerts returns alerts newest first; see store.Alerts.
func (s *Store) ListAlerts(ctx context.Context, q store.AlertQuery) ([]thermowatt.Alert, error) {
	where := "device_id = $1 OR $1 = ''"
	if q.OpenOnly {
		where = "(" + where + ") AND resolved_at IS NULL"
	}
	rows, err := s.Read.Query(ctx, `SELECT `+alertColumns+` FROM alerts WHERE `+where+`
		ORDER BY opened_at DESC, id DESC LIMIT $2`, q.DeviceID, max(q.Limit, 1))
	as, err := collect(rows, err, scanAlert)
	if err != nil {
		return nil, s.fail(ctx, err, "list alerts")
	}
	return as, nil
}

// ClaimAlerts claims alerts to notify; see store.Alerts. In PostgreSQL,
// SKIP LOCKED lets two claimers at the same instant take different rows
// instead of one waiting for the other and then taking nothing; in SQLite
// the one statement is atomic under the write lock.
func (s *Store) ClaimAlerts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]thermowatt.Alert, error) {
	claim, err := store.NewClaim()
	if err != nil {
		return nil, err
	}
	now = store.UTC(now)
	rows, err := s.Write.Query(ctx, `
		UPDATE alerts SET claimed_until = $2, claim_token = $3
		WHERE id IN (
			SELECT id FROM alerts
			WHERE (opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL))
			  AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
			  AND (claimed_until IS NULL OR claimed_until < $1)
			ORDER BY id LIMIT $4 `+s.SkipLocked+`)
		RETURNING `+alertColumns, now, now.Add(lease), claim, limit)
	as, err := collect(rows, err, scanAlert)
	if err != nil {
		return nil, s.fail(ctx, err, "claim alerts")
	}
	return as, nil
}

// MarkNotified records a delivered transition; see store.Alerts.
func (s *Store) MarkNotified(ctx context.Context, id int64, claim, transition string, at time.Time) error {
	// col is the transition's column; stillPending whether the alert has
	// a transition left to notify once it is marked.
	col, stillPending := "opened_notified_at", "resolved_at IS NOT NULL"
	switch transition {
	case thermowatt.TransitionOpened:
	case thermowatt.TransitionResolved:
		col, stillPending = "resolved_notified_at", "1 = 0"
	default:
		return fmt.Errorf("unknown alert transition %q", transition)
	}
	_, err := s.Write.Exec(ctx, `UPDATE alerts SET `+col+` = $3, notify_attempts = 0, next_attempt_at = NULL, last_error = NULL,
			-- the claim ends with the last pending transition
			claimed_until = CASE WHEN `+stillPending+` THEN claimed_until END,
			claim_token = CASE WHEN `+stillPending+` THEN claim_token END
		WHERE id = $1 AND claim_token = $2 AND `+col+` IS NULL`, id, claim, store.UTC(at))
	if err != nil {
		return s.fail(ctx, err, "mark alert %d notified", id)
	}
	return nil
}

// NotifyFailed records a failed delivery; see store.Alerts.
func (s *Store) NotifyFailed(ctx context.Context, id int64, claim, errMsg string, next time.Time) error {
	_, err := s.Write.Exec(ctx, `UPDATE alerts SET notify_attempts = notify_attempts + 1, last_error = $3,
		next_attempt_at = $4, claimed_until = NULL, claim_token = NULL
		WHERE id = $1 AND claim_token = $2`, id, claim, errMsg, store.UTC(next))
	if err != nil {
		return s.fail(ctx, err, "record failed notification of alert %d", id)
	}
	return nil
}

// CountOpenAlerts counts the open alerts by kind, from the alerts_one_open
// index.
func (s *Store) CountOpenAlerts(ctx context.Context) (map[string]int, error) {
	rows, err := s.Read.Query(ctx, `SELECT kind, count(*) FROM alerts WHERE resolved_at IS NULL GROUP BY kind`)
	if err != nil {
		return nil, s.fail(ctx, err, "count open alerts")
	}
	defer rows.Close()
	counts, err := store.ScanCounts[string](rows)
	if err != nil {
		return nil, s.fail(ctx, err, "count open alerts")
	}
	return counts, nil
}
