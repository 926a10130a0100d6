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

const ruleColumns = `id, metric, comparison, threshold, for_s, hysteresis, devices, severity, message, include_late, created_at, updated_at, rate_over_s`

func scanRule(row scanner) (thermowatt.AlertRule, error) {
	var (
		r                thermowatt.AlertRule
		forS, rateS      int64
		devices          *string
		created, updated int64
	)
	if err := row.Scan(&r.ID, &r.Metric, &r.Comparison, &r.Threshold, &forS, &r.Hysteresis, &devices, &r.Severity,
		&r.Message, &r.IncludeLate, &created, &updated, &rateS); err != nil {
		return r, err
	}
	r.For = time.Duration(forS) * time.Second
	r.RateOver = time.Duration(rateS) * time.Second
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	if devices == nil {
		r.All = true
	} else if err := json.Unmarshal([]byte(*devices), &r.Devices); err != nil {
		return r, fmt.Errorf("alert rule %d: devices column %q: %w", r.ID, *devices, err)
	}
	return r, nil
}

// ruleDevices is the devices column of a rule: a JSON array, NULL for the
// fleet.
func ruleDevices(r thermowatt.AlertRule) any {
	if r.All {
		return nil
	}
	b, _ := json.Marshal(r.Devices)
	return string(b)
}

// CreateAlertRule stores a rule; see store.AlertRules.
func (s *Store) CreateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error) {
	out, err := scanRule(s.write.QueryRowContext(ctx, `INSERT INTO alert_rules (metric, comparison, threshold, for_s, hysteresis, devices, severity, message, created_at, updated_at, include_late, rate_over_s)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11) RETURNING `+ruleColumns,
		r.Metric, r.Comparison, r.Threshold, int64(r.For/time.Second), r.Hysteresis, ruleDevices(r), r.Severity, r.Message, micros(now), r.IncludeLate,
		int64(r.RateOver/time.Second)))
	if err != nil {
		return r, fmt.Errorf("sqlite: create alert rule: %w", mapError(ctx, err))
	}
	return out, nil
}

// ListAlertRules returns every rule; see store.AlertRules.
func (s *Store) ListAlertRules(ctx context.Context) ([]thermowatt.AlertRule, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+ruleColumns+` FROM alert_rules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list alert rules: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var rs []thermowatt.AlertRule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list alert rules: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list alert rules: %w", mapError(ctx, err))
	}
	return rs, nil
}

// GetAlertRule returns one rule; see store.AlertRules.
func (s *Store) GetAlertRule(ctx context.Context, id int64) (thermowatt.AlertRule, error) {
	r, err := scanRule(s.read.QueryRowContext(ctx, `SELECT `+ruleColumns+` FROM alert_rules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("alert rule %d: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("sqlite: alert rule %d: %w", id, mapError(ctx, err))
	}
	return r, nil
}

// resolveRuleAlerts resolves a rule's open alerts at now.
const resolveRuleAlerts = `UPDATE alerts SET resolved_at = ?2 WHERE kind = 'value' AND rule_id = ?1 AND resolved_at IS NULL`

// UpdateAlertRule replaces a rule; see store.AlertRules.
func (s *Store) UpdateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error) {
	var out thermowatt.AlertRule
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanRule(tx.QueryRowContext(ctx, `UPDATE alert_rules SET metric = ?2, comparison = ?3, threshold = ?4, for_s = ?5,
			hysteresis = ?6, devices = ?7, severity = ?8, message = ?9, updated_at = ?10, include_late = ?11, rate_over_s = ?12 WHERE id = ?1 RETURNING `+ruleColumns,
			r.ID, r.Metric, r.Comparison, r.Threshold, int64(r.For/time.Second), r.Hysteresis, ruleDevices(r), r.Severity, r.Message, micros(now), r.IncludeLate,
			int64(r.RateOver/time.Second)))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM alert_rule_state WHERE rule_id = ?`, r.ID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, resolveRuleAlerts, r.ID, micros(now))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return out, fmt.Errorf("alert rule %d: %w", r.ID, thermowatt.ErrNotFound)
	}
	if err != nil {
		return out, fmt.Errorf("sqlite: update alert rule %d: %w", r.ID, mapError(ctx, err))
	}
	return out, nil
}

// DeleteAlertRule deletes a rule; see store.AlertRules.
func (s *Store) DeleteAlertRule(ctx context.Context, id int64, now time.Time) error {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The state goes explicitly: the cascade needs foreign_keys on.
		if _, err := tx.ExecContext(ctx, `DELETE FROM alert_rule_state WHERE rule_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM alert_rules WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, resolveRuleAlerts, id, micros(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete alert rule %d: %w", id, mapError(ctx, err))
	}
	if n == 0 {
		return fmt.Errorf("alert rule %d: %w", id, thermowatt.ErrNotFound)
	}
	return nil
}

const stateColumns = `rule_id, device_id, version, through, pending_since, clear_since, firing, last_value, last_at`

// RuleStates returns rule states; see store.AlertRules.
func (s *Store) RuleStates(ctx context.Context, deviceID string) ([]thermowatt.RuleState, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+stateColumns+` FROM alert_rule_state
		WHERE ?1 = '' OR device_id = ?1 ORDER BY rule_id, device_id`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: alert rule states: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var sts []thermowatt.RuleState
	for rows.Next() {
		var (
			st                     thermowatt.RuleState
			through                int64
			pending, clear, lastAt *int64
		)
		if err := rows.Scan(&st.RuleID, &st.DeviceID, &st.Version, &through, &pending, &clear, &st.Firing, &st.LastValue, &lastAt); err != nil {
			return nil, fmt.Errorf("sqlite: alert rule states: %w", err)
		}
		st.Through, st.PendingSince, st.ClearSince, st.LastAt = fromMicros(through), fromMicrosPtr(pending), fromMicrosPtr(clear), fromMicrosPtr(lastAt)
		sts = append(sts, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: alert rule states: %w", mapError(ctx, err))
	}
	return sts, nil
}

// stateWrite is the statement and arguments that write st over version
// st.Version-1: an UPDATE of that version, or for the first an INSERT
// while the rule is as the checker read it. Either matches no row when
// another checker wrote first.
func stateWrite(st thermowatt.RuleState) (string, []any) {
	args := []any{st.RuleID, st.DeviceID, st.Version, micros(st.Through), microsPtr(st.PendingSince), microsPtr(st.ClearSince),
		st.Firing, st.LastValue, microsPtr(st.LastAt)}
	if st.Version == 1 {
		return `INSERT INTO alert_rule_state (` + stateColumns + `)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE EXISTS (SELECT 1 FROM alert_rules WHERE id = ?1 AND updated_at = ?10)
			ON CONFLICT (rule_id, device_id) DO NOTHING`, append(args, micros(st.RuleUpdatedAt))
	}
	return `UPDATE alert_rule_state SET version = ?3, through = ?4, pending_since = ?5, clear_since = ?6, firing = ?7,
			last_value = ?8, last_at = ?9 WHERE rule_id = ?1 AND device_id = ?2 AND version = ?3 - 1`, args
}

// SaveRuleState writes a rule state and its transition; see
// store.AlertRules. There is one writer at a time, but two checkers can
// still have read the same version: the version check sends the second
// one away before it touches an alert.
func (s *Store) SaveRuleState(ctx context.Context, st thermowatt.RuleState, t store.RuleTransition) (bool, error) {
	saved := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q, args := stateWrite(st)
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		saved = true
		switch {
		case t.Open:
			_, err = tx.ExecContext(ctx, `INSERT INTO alerts (device_id, kind, rule_id, message, opened_at)
				SELECT id, 'value', ?2, ?3, ?4 FROM devices WHERE id = ?1
				ON CONFLICT (device_id, kind, rule_id) WHERE resolved_at IS NULL DO NOTHING`,
				st.DeviceID, st.RuleID, t.Message, micros(t.At))
		case t.Resolve:
			_, err = tx.ExecContext(ctx, `UPDATE alerts SET resolved_at = ?3
				WHERE device_id = ?1 AND kind = 'value' AND rule_id = ?2 AND resolved_at IS NULL`,
				st.DeviceID, st.RuleID, micros(t.At))
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: save state of alert rule %d for %q: %w", st.RuleID, st.DeviceID, mapError(ctx, err))
	}
	return saved, nil
}

// SaveRuleStates saves states without transitions in one write
// transaction (SQLite's single writer is shared with ingest); see
// store.AlertRules.
func (s *Store) SaveRuleStates(ctx context.Context, sts []thermowatt.RuleState) error {
	if len(sts) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, st := range sts {
			q, args := stateWrite(st)
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: save %d alert rule states: %w", len(sts), mapError(ctx, err))
	}
	return nil
}
