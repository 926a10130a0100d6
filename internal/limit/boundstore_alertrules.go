package limit

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The store.AlertRules methods, bounded like the others.

func (s *BoundStore) CreateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.AlertRule, error) { return s.inner.CreateAlertRule(ctx, r, now) })
}

func (s *BoundStore) ListAlertRules(ctx context.Context) ([]thermowatt.AlertRule, error) {
	return call(s, ctx, s.inner.ListAlertRules)
}

func (s *BoundStore) GetAlertRule(ctx context.Context, id int64) (thermowatt.AlertRule, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.AlertRule, error) { return s.inner.GetAlertRule(ctx, id) })
}

func (s *BoundStore) UpdateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.AlertRule, error) { return s.inner.UpdateAlertRule(ctx, r, now) })
}

func (s *BoundStore) DeleteAlertRule(ctx context.Context, id int64, now time.Time) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.inner.DeleteAlertRule(ctx, id, now) })
}

func (s *BoundStore) RuleStates(ctx context.Context, deviceID string) ([]thermowatt.RuleState, error) {
	return call(s, ctx, func(ctx context.Context) ([]thermowatt.RuleState, error) { return s.inner.RuleStates(ctx, deviceID) })
}

func (s *BoundStore) SaveRuleState(ctx context.Context, st thermowatt.RuleState, t store.RuleTransition) (bool, error) {
	return call(s, ctx, func(ctx context.Context) (bool, error) { return s.inner.SaveRuleState(ctx, st, t) })
}

func (s *BoundStore) SaveRuleStates(ctx context.Context, sts []thermowatt.RuleState) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.inner.SaveRuleStates(ctx, sts) })
}
