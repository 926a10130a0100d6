package store

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt"
)

// AlertRules keeps alert rules on measured values and where each rule's
// evaluation of each device stands. The state is written with the alert
// transition it causes, in one transaction, and only over the version the
// writer read: of several checkers that evaluate the same readings at
// once, one writes and the others learn they lost.
type AlertRules interface {
	// CreateAlertRule stores a valid rule and returns it with its id.
	CreateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error)
	// ListAlertRules returns every rule, oldest first.
	ListAlertRules(ctx context.Context) ([]thermowatt.AlertRule, error)
	// GetAlertRule returns one rule; ErrNotFound when unknown.
	GetAlertRule(ctx context.Context, id int64) (thermowatt.AlertRule, error)
	// UpdateAlertRule replaces a rule's settings (not its CreatedAt);
	// ErrNotFound when unknown. Its evaluation starts over, and its open
	// alerts resolve at now: they were raised under the old settings.
	UpdateAlertRule(ctx context.Context, r thermowatt.AlertRule, now time.Time) (thermowatt.AlertRule, error)
	// DeleteAlertRule deletes a rule and its state, resolving its open
	// alerts at now; ErrNotFound when unknown.
	DeleteAlertRule(ctx context.Context, id int64, now time.Time) error
	// RuleStates returns the states of one device's rules ("" every
	// device's), by rule then device.
	RuleStates(ctx context.Context, deviceID string) ([]thermowatt.RuleState, error)
	// SaveRuleState writes s over the state of version s.Version-1 (none
	// stored when s.Version is 1, and then only while the rule's UpdatedAt
	// is still s.RuleUpdatedAt) and does t in the same transaction. saved
	// is false, and nothing changed, when the stored version was not that
	// one (another checker saved first) or the rule changed or went.
	SaveRuleState(ctx context.Context, s thermowatt.RuleState, t RuleTransition) (saved bool, err error)
	// SaveRuleStates saves states that cause no transition, each as
	// SaveRuleState would, in one transaction: a check's progress in one
	// commit rather than one per rule and device. A state whose version
	// moved is skipped.
	SaveRuleStates(ctx context.Context, sts []thermowatt.RuleState) error
}

// RuleTransition is what a saved state does to the rule's alert of the
// device: nothing (zero), open one (Open, with Message) or resolve the
// open one (Resolve). At is the time recorded on the alert.
type RuleTransition struct {
	Open, Resolve bool
	Message       string
	At            time.Time
}
