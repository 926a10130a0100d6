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

const ruleColumns = `id, metric, comparison, threshold, for_s, hysteresis, devices, severity, message, include_late, created_at, updated_at, rate_over_s`

// scanRule reads a row of ruleColumns. devices is a list of device ids
// (a text[] in PostgreSQL, a JSON array in SQLite), NULL for the fleet.
func scanRule(row Row) (thermowatt.AlertRule, error) {
	var (
		r           thermowatt.AlertRule
		forS, rateS int64
	)
	err := row.Scan(&r.ID, &r.Metric, &r.Comparison, &r.Threshold, &forS, &r.Hysteresis, &r.Devices, &r.Severity,
		&r.Message, &r.IncludeLate, &r.CreatedAt, &r.UpdatedAt, &rateS)
	r.For = time.Duration(forS) * time.Second
	r.RateOver = time.Duration(rateS) * time.Second
	r.All = r.Devices == nil
	return r, err
}

// ruleArgs are a rule's columns from metric to rate_over_s, in the order
// of the statements below ($N+1…$N+11 after N leading arguments).
func ruleArgs(r thermowatt.AlertRule, now time.Time, leading ...any) []any {
	devices := r.Devices
	if r.All {
		devices = nil // NULL: the fleet
	}
	return append(leading, r.Metric, r.Comparison, r.Threshold, int64(r.For/time.Second), r.Hysteresis, devices, r.Severity,
		r.Message, store.UTC(now), r.IncludeLate, int64(r.RateOver/time.Second))
}

// CreateAlertRule stores a rule; see store.AlertRules.
func (s *Store) CreateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error) {
	out, err := scanRule(s.Write.QueryRow(ctx, `INSERT INTO alert_rules (metric, comparison, threshold, for_s, hysteresis, devices, severity, message, created_at, updated_at, include_late, rate_over_s)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11) RETURNING `+ruleColumns, ruleArgs(r, now)...))
	if err != nil {
		return r, s.fail(ctx, err, "create alert rule")
	}
	return out, nil
}

// ListAlertRules returns every rule; see store.AlertRules.
func (s *Store) ListAlertRules(ctx context.Context) ([]thermowatt.AlertRule, error) {
	rows, err := s.Read.Query(ctx, `SELECT `+ruleColumns+` FROM alert_rules ORDER BY id`)
	rs, err := collect(rows, err, scanRule)
	if err != nil {
		return nil, s.fail(ctx, err, "list alert rules")
	}
	return rs, nil
}

// GetAlertRule returns one rule; see store.AlertRules.
func (s *Store) GetAlertRule(ctx context.Context, id int64) (thermowatt.AlertRule, error) {
	r, err := scanRule(s.Read.QueryRow(ctx, `SELECT `+ruleColumns+` FROM alert_rules WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("alert rule %d: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return r, s.fail(ctx, err, "alert rule %d", id)
	}
	return r, nil
}

// resolveRuleAlerts resolves a rule's open alerts at now.
const resolveRuleAlerts = `UPDATE alerts SET resolved_at = $2 WHERE kind = 'value' AND rule_id = $1 AND resolved_at IS NULL`

// UpdateAlertRule replaces a rule; see store.AlertRules.
func (s *Store) UpdateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error) {
	var out thermowatt.AlertRule
	err := s.InTx(ctx, func(tx DB) (err error) {
		out, err = scanRule(tx.QueryRow(ctx, `UPDATE alert_rules SET metric = $2, comparison = $3, threshold = $4, for_s = $5,
			hysteresis = $6, devices = $7, severity = $8, message = $9, updated_at = $10, include_late = $11, rate_over_s = $12
			WHERE id = $1 RETURNING `+ruleColumns, ruleArgs(r, now, r.ID)...))
		if err != nil {
			return err
		}
		return tx.ExecAll(ctx, []Stmt{
			{`DELETE FROM alert_rule_state WHERE rule_id = $1`, []any{r.ID}},
			{resolveRuleAlerts, []any{r.ID, store.UTC(now)}},
		})
	})
	if errors.Is(err, sql.ErrNoRows) {
		return out, fmt.Errorf("alert rule %d: %w", r.ID, thermowatt.ErrNotFound)
	}
	if err != nil {
		return out, s.fail(ctx, err, "update alert rule %d", r.ID)
	}
	return out, nil
}

// DeleteAlertRule deletes a rule; see store.AlertRules.
func (s *Store) DeleteAlertRule(ctx context.Context, id int64, now time.Time) error {
	var n int64
	err := s.InTx(ctx, func(tx DB) (err error) {
		// The state goes explicitly: SQLite cascades only with foreign_keys on.
		if _, err := tx.Exec(ctx, `DELETE FROM alert_rule_state WHERE rule_id = $1`, id); err != nil {
			return err
		}
		if n, err = tx.Exec(ctx, `DELETE FROM alert_rules WHERE id = $1`, id); err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(ctx, resolveRuleAlerts, id, store.UTC(now))
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "delete alert rule %d", id)
	}
	if n == 0 {
		return fmt.Errorf("alert rule %d: %w", id, thermowatt.ErrNotFound)
	}
	return nil
}

const stateColumns = `rule_id, device_id, version, through, pending_since, clear_since, firing, last_value, last_at`

// RuleStates returns rule states; see store.AlertRules.
func (s *Store) RuleStates(ctx context.Context, deviceID string) ([]thermowatt.RuleState, error) {
	rows, err := s.Read.Query(ctx, `SELECT `+stateColumns+` FROM alert_rule_state
		WHERE $1 = '' OR device_id = $1 ORDER BY rule_id, device_id`, deviceID)
	sts, err := collect(rows, err, func(row Row) (st thermowatt.RuleState, err error) {
		err = row.Scan(&st.RuleID, &st.DeviceID, &st.Version, &st.Through, &st.PendingSince, &st.ClearSince, &st.Firing,
			&st.LastValue, &st.LastAt)
		return st, err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "alert rule states")
	}
	return sts, nil
}

// stateWrite is the statement that writes st over version st.Version-1:
// an UPDATE of that version, or for the first an INSERT while the rule is
// as the checker read it. Either matches no row when another checker
// wrote first.
func stateWrite(st thermowatt.RuleState) Stmt {
	args := []any{st.RuleID, st.DeviceID, st.Version, store.UTC(st.Through), st.PendingSince, st.ClearSince,
		st.Firing, st.LastValue, st.LastAt}
	if st.Version == 1 {
		return Stmt{`INSERT INTO alert_rule_state (` + stateColumns + `)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM alert_rules WHERE id = $1 AND updated_at = $10)
			ON CONFLICT (rule_id, device_id) DO NOTHING`, append(args, store.UTC(st.RuleUpdatedAt))}
	}
	return Stmt{`UPDATE alert_rule_state SET version = $3, through = $4, pending_since = $5, clear_since = $6, firing = $7,
			last_value = $8, last_at = $9 WHERE rule_id = $1 AND device_id = $2 AND version = $3 - 1`, args}
}

// SaveRuleState writes a rule state and its transition; see
// store.AlertRules. The version check is the arbiter between checkers:
// the loser's UPDATE (or INSERT, for a first state) matches nothing, and
// its transaction ends before it touches an alert.
func (s *Store) SaveRuleState(ctx context.Context, st thermowatt.RuleState, t store.RuleTransition) (bool, error) {
	saved := false
	err := s.InTx(ctx, func(tx DB) error {
		w := stateWrite(st)
		n, err := tx.Exec(ctx, w.SQL, w.Args...)
		if err != nil || n != 1 {
			return err
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
		return false, s.fail(ctx, err, "save state of alert rule %d for %q", st.RuleID, st.DeviceID)
	}
	return saved, nil
}

// SaveRuleStates saves states without transitions in one transaction
// (and, in PostgreSQL, one round trip); see store.AlertRules.
func (s *Store) SaveRuleStates(ctx context.Context, sts []thermowatt.RuleState) error {
	if len(sts) == 0 {
		return nil
	}
	stmts := make([]Stmt, len(sts))
	for i, st := range sts {
		stmts[i] = stateWrite(st)
	}
	err := s.InTx(ctx, func(tx DB) error { return tx.ExecAll(ctx, stmts) })
	if err != nil {
		return s.fail(ctx, err, "save %d alert rule states", len(sts))
	}
	return nil
}
