package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// SetExpectedInterval sets how often a device should send; see store.Ops.
func (s *Store) SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("postgres: expected interval must be at least 1 s, got %d", seconds)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE devices SET expected_interval_s = $2 WHERE id = $1`, deviceID, seconds)
	if err != nil {
		return fmt.Errorf("postgres: set interval of %q: %w", deviceID, mapError(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	return nil
}

// CountFailures adds to a device's failure counts; see store.Ops. The
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

// FailuresSince sums failures per device; see store.Ops.
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

// HealthNear returns a device's health around a time; see store.Ops. Each
// branch is one probe of the (device_id, recorded_at) index.
func (s *Store) HealthNear(ctx context.Context, deviceID string, at time.Time) (json.RawMessage, bool, error) {
	var health []byte
	err := s.pool.QueryRow(ctx, `
		(SELECT payload->'device' FROM device_measurements
		 WHERE device_id = $1 AND recorded_at <= $2 AND jsonb_typeof(payload->'device') = 'object'
		 ORDER BY recorded_at DESC LIMIT 1)
		UNION ALL
		(SELECT payload->'device' FROM device_measurements
		 WHERE device_id = $1 AND recorded_at > $2 AND jsonb_typeof(payload->'device') = 'object'
		 ORDER BY recorded_at LIMIT 1)
		LIMIT 1`, deviceID, store.UTC(at)).Scan(&health)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("postgres: health of %q: %w", deviceID, mapError(ctx, err))
	}
	return health, true, nil
}

// OpenAlert opens an alert once; see store.Ops. The partial unique index
// alerts_one_open decides between racing callers: the loser's INSERT
// waits for the winner's commit and then does nothing.
func (s *Store) OpenAlert(ctx context.Context, a thermowatt.NewAlert) (bool, error) {
	var ifLastSeen *time.Time
	if a.IfLastSeen != nil {
		t := store.UTC(*a.IfLastSeen)
		ifLastSeen = &t
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO alerts (device_id, kind, message, opened_at)
		SELECT id, $2, $3, $4 FROM devices
		WHERE id = $1 AND ($5::timestamptz IS NULL OR last_seen_at <= $5)
		ON CONFLICT (device_id, kind) WHERE resolved_at IS NULL DO NOTHING`,
		a.DeviceID, a.Kind, a.Message, store.UTC(a.At), ifLastSeen)
	if err != nil {
		return false, fmt.Errorf("postgres: open %s alert of %q: %w", a.Kind, a.DeviceID, mapError(ctx, err))
	}
	return tag.RowsAffected() == 1, nil
}

// ResolveAlert resolves an open alert once; see store.Ops.
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

// ListAlerts returns alerts newest first; see store.Ops.
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

// ClaimAlerts claims alerts to notify; see store.Ops. SKIP LOCKED lets
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

// MarkNotified records a delivered transition; see store.Ops.
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

// NotifyFailed records a failed delivery; see store.Ops.
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

// DeleteReadingsBefore deletes one batch of expired readings; see
// store.Ops. SKIP LOCKED: a second run at the same time takes other rows
// rather than waiting; the device counts are updated in id order, as
// ingest does, so the two never deadlock.
func (s *Store) DeleteReadingsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	const q = `
	WITH doomed AS (
		SELECT device_id, recorded_at FROM device_measurements WHERE recorded_at < $1
		ORDER BY recorded_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
	), deleted AS (
		-- by the primary key: id is not indexed on its own
		DELETE FROM device_measurements m USING doomed
		WHERE m.device_id = doomed.device_id AND m.recorded_at = doomed.recorded_at
		RETURNING m.device_id
	), per_device AS (
		SELECT device_id, count(*) AS n FROM deleted GROUP BY device_id
	), counted AS (
		INSERT INTO devices AS d (id, created_at, reading_count)
		SELECT device_id, now(), n FROM per_device ORDER BY device_id
		ON CONFLICT (id) DO UPDATE
		SET reading_count = greatest(d.reading_count - EXCLUDED.reading_count, 0)
	)
	SELECT count(*) FROM deleted`
	// Retried like ingest (deadlock victim, dead pooled connection). Should
	// a batch commit and its answer be lost, the retry deletes the next
	// batch instead: the printed count is then short by one batch, the
	// data is right.
	var n int64
	err := s.withRetry(ctx, func() error {
		return s.pool.QueryRow(ctx, q, store.UTC(cutoff), limit).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete readings: %w", mapError(ctx, err))
	}
	return n, nil
}

// DeleteRawBefore deletes one batch of expired raw archive rows.
func (s *Store) DeleteRawBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM raw_measurements WHERE id IN (
			SELECT id FROM raw_measurements WHERE received_at < $1
			ORDER BY received_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)`, store.UTC(cutoff), limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete raw archive: %w", mapError(ctx, err))
	}
	return tag.RowsAffected(), nil
}

// DeleteOpsBefore deletes old failure counts and resolved alerts.
func (s *Store) DeleteOpsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	cutoff = store.UTC(cutoff)
	var total int64
	for _, q := range []string{
		`DELETE FROM device_failures WHERE minute < $1`,
		`DELETE FROM alerts WHERE resolved_at < $1 AND resolved_notified_at IS NOT NULL`,
	} {
		tag, err := s.pool.Exec(ctx, q, cutoff)
		if err != nil {
			return total, fmt.Errorf("postgres: delete old alerts: %w", mapError(ctx, err))
		}
		total += tag.RowsAffected()
	}
	return total, nil
}
