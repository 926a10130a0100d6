package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

const ruleColumns = `id, metric, comparison, threshold, for_s, hysteresis, devices, severity, message, include_late, created_at, updated_at, rate_over_s`

func scanRule(row pgx.CollectableRow) (thermowatt.AlertRule, error) {
	var (
		r           thermowatt.AlertRule
		forS, rateS int64
	)
	err := row.Scan(&r.ID, &r.Metric, &r.Comparison, &r.Threshold, &forS, &r.Hysteresis, &r.Devices, &r.Severity,
		&r.Message, &r.IncludeLate, &r.CreatedAt, &r.UpdatedAt, &rateS)
	r.For = time.Duration(forS) * time.Second
	r.RateOver = time.Duration(rateS) * time.Second
	r.All = r.Devices == nil
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// ruleDevices is the devices column of a rule: NULL for the fleet.
func ruleDevices(r thermowatt.AlertRule) []string {
	if r.All {
		return nil
	}
	return r.Devices
}

// CreateAlertRule stores a rule; see store.AlertRules.
func (s *Store) CreateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error) {
	now = store.UTC(now)
	rows, err := s.pool.Query(ctx, `INSERT INTO alert_rules (metric, comparison, threshold, for_s, hysteresis, devices, severity, message, created_at, updated_at, include_late, rate_over_s)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11) RETURNING `+ruleColumns,
		r.Metric, r.Comparison, r.Threshold, int64(r.For/time.Second), r.Hysteresis, ruleDevices(r), r.Severity, r.Message, now, r.IncludeLate,
		int64(r.RateOver/time.Second))
	if err != nil {
		return r, fmt.Errorf("postgres: create alert rule: %w", mapError(ctx, err))
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanRule)
	if err != nil {
		return r, fmt.Errorf("postgres: create alert rule: %w", mapError(ctx, err))
	}
	return out, nil
}

// ListAlertRules returns every rule; see store.AlertRules.
func (s *Store) ListAlertRules(ctx context.Context) ([]thermowatt.AlertRule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+ruleColumns+` FROM alert_rules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list alert rules: %w", mapError(ctx, err))
	}
	rs, err := pgx.CollectRows(rows, scanRule)
	if err != nil {
		return nil, fmt.Errorf("postgres: list alert rules: %w", mapError(ctx, err))
	}
	return rs, nil
}

// GetAlertRule returns one rule; see store.AlertRules.
func (s *Store) GetAlertRule(ctx context.Context, id int64) (thermowatt.AlertRule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+ruleColumns+` FROM alert_rules WHERE id = $1`, id)
	if err != nil {
		return thermowatt.AlertRule{}, fmt.Errorf("postgres: alert rule %d: %w", id, mapError(ctx, err))
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRule)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("alert rule %d: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("postgres: alert rule %d: %w", id, mapError(ctx, err))
	}
	return r, nil
}

// resolveRuleAlerts resolves a rule's open alerts at now.
const resolveRuleAlerts = `UPDATE alerts SET resolved_at = $2 WHERE kind = 'value' AND rule_id = $1 AND resolved_at IS NULL`

// UpdateAlertRule replaces a rule; see store.AlertRules.
func (s *Store) UpdateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error) {
	now = store.UTC(now)
	var out thermowatt.AlertRule
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE alert_rules SET metric = $2, comparison = $3, threshold = $4, for_s = $5,
			hysteresis = $6, devices = $7, severity = $8, message = $9, updated_at = $10, include_late = $11, rate_over_s = $12 WHERE id = $1 RETURNING `+ruleColumns,
			r.ID, r.Metric, r.Comparison, r.Threshold, int64(r.For/time.Second), r.Hysteresis, ruleDevices(r), r.Severity, r.Message, now, r.IncludeLate,
			int64(r.RateOver/time.Second))
		if err != nil {
			return err
		}
		if out, err = pgx.CollectExactlyOneRow(rows, scanRule); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM alert_rule_state WHERE rule_id = $1`, r.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, resolveRuleAlerts, r.ID, now)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fmt.Errorf("alert rule %d: %w", r.ID, thermowatt.ErrNotFound)
	}
	if err != nil {
		return out, fmt.Errorf("postgres: update alert rule %d: %w", r.ID, mapError(ctx, err))
	}
	return out, nil
}

// DeleteAlertRule deletes a rule; see store.AlertRules.
func (s *Store) DeleteAlertRule(ctx context.Context, id int64, now time.Time) error {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM alert_rules WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, resolveRuleAlerts, id, store.UTC(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete alert rule %d: %w", id, mapError(ctx, err))
	}
	if n == 0 {
		return fmt.Errorf("alert rule %d: %w", id, thermowatt.ErrNotFound)
	}
	return nil
}

const stateColumns = `rule_id, device_id, version, through, pending_since, clear_since, firing, last_value, last_at`

func scanState(row pgx.CollectableRow) (thermowatt.RuleState, error) {
	var st thermowatt.RuleState
	err := row.Scan(&st.RuleID, &st.DeviceID, &st.Version, &st.Through, &st.PendingSince, &st.ClearSince, &st.Firing,
		&st.LastValue, &st.LastAt)
	st.Through = st.Through.UTC()
	for _, t := range []**time.Time{&st.PendingSince, &st.ClearSince, &st.LastAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	return st, err
}

// RuleStates returns rule states; see store.AlertRules.
func (s *Store) RuleStates(ctx context.Context, deviceID string) ([]thermowatt.RuleState, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+stateColumns+` FROM alert_rule_state
		WHERE $1 = '' OR device_id = $1 ORDER BY rule_id, device_id`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("postgres: alert rule states: %w", mapError(ctx, err))
	}
	sts, err := pgx.CollectRows(rows, scanState)
	if err != nil {
		return nil, fmt.Errorf("postgres: alert rule states: %w", mapError(ctx, err))
	}
	return sts, nil
}

// stateWrite is the statement and arguments that write st over version
// st.Version-1: an UPDATE of that version, or for the first an INSERT
// while the rule is as the checker read it. Either matches no row when
// another checker wrote first.
func stateWrite(st thermowatt.RuleState) (string, []any) {
	args := []any{st.RuleID, st.DeviceID, st.Version, store.UTC(st.Through), utcPtr(st.PendingSince), utcPtr(st.ClearSince),
		st.Firing, st.LastValue, utcPtr(st.LastAt)}
	if st.Version == 1 {
		return `INSERT INTO alert_rule_state (` + stateColumns + `)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM alert_rules WHERE id = $1 AND updated_at = $10)
			ON CONFLICT (rule_id, device_id) DO NOTHING`, append(args, store.UTC(st.RuleUpdatedAt))
	}
	return `UPDATE alert_rule_state SET version = $3, through = $4, pending_since = $5, clear_since = $6, firing = $7,
			last_value = $8, last_at = $9 WHERE rule_id = $1 AND device_id = $2 AND version = $3 - 1`, args
}

// SaveRuleState writes a rule state and its transition; see
// store.AlertRules. The version check is the arbiter between checkers:
// the loser's UPDATE (or INSERT, for a first state) matches nothing, and
// its transaction ends before it touches an alert.
func (s *Store) SaveRuleState(ctx context.Context, st thermowatt.RuleState, t store.RuleTransition) (bool, error) {
	saved := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q, args := stateWrite(st)
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return nil
		}
		saved = true
		switch {
		case t.Open:
			// The one-open index is the same arbiter the other kinds have.
			_, err = tx.Exec(ctx, `INSERT INTO alerts (device_id, kind, rule_id, message, opened_at)
				SELECT id, 'value', $2, $3, $4 FROM devices WHERE id = $1
				ON CONFLICT (device_id, kind, rule_id) WHERE resolved_at IS NULL DO NOTHING`,
				st.DeviceID, st.RuleID, t.Message, store.UTC(t.At))
		case t.Resolve:
			_, err = tx.Exec(ctx, `UPDATE alerts SET resolved_at = $3
				WHERE device_id = $1 AND kind = 'value' AND rule_id = $2 AND resolved_at IS NULL`,
				st.DeviceID, st.RuleID, store.UTC(t.At))
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: save state of alert rule %d for %q: %w", st.RuleID, st.DeviceID, mapError(ctx, err))
	}
	return saved, nil
}

// SaveRuleStates saves states without transitions in one transaction and
// one round trip; see store.AlertRules.
func (s *Store) SaveRuleStates(ctx context.Context, sts []thermowatt.RuleState) error {
	if len(sts) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, st := range sts {
			q, args := stateWrite(st)
			b.Queue(q, args...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: save %d alert rule states: %w", len(sts), mapError(ctx, err))
	}
	return nil
}
