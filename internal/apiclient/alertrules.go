package apiclient

import (
	"context"
	"fmt"

	"github.com/thermowatt/thermowatt/internal/wire"
)

// NewAlertRule is the body of POST /api/alert-rules.
type NewAlertRule struct {
	Metric     string   `json:"metric"`
	Comparison string   `json:"comparison"`
	Threshold  float64  `json:"threshold"`
	RateOver   string   `json:"rateOver,omitempty"`
	For        string   `json:"for,omitempty"`
	Hysteresis float64  `json:"hysteresis,omitempty"`
	Devices    []string `json:"devices,omitempty"`
	All        bool     `json:"all,omitempty"`
	Severity   string   `json:"severity,omitempty"`
	Message    string   `json:"message,omitempty"`
	Late       bool     `json:"includeLate,omitempty"`
}

// CreateAlertRule adds a rule; the server validates it and says what is
// wrong.
func (a *Admin) CreateAlertRule(ctx context.Context, r NewAlertRule) (wire.AlertRule, error) {
	var out wire.AlertRule
	err := a.Do(ctx, "POST", "/api/alert-rules", r, &out)
	return out, err
}

// AlertRules lists every rule with its state, oldest first.
func (a *Admin) AlertRules(ctx context.Context) ([]wire.AlertRule, error) {
	var out wire.Items[wire.AlertRule]
	err := a.Do(ctx, "GET", "/api/alert-rules", nil, &out)
	return out.Items, err
}

// DeleteAlertRule deletes a rule; its open alerts resolve.
func (a *Admin) DeleteAlertRule(ctx context.Context, id int64) error {
	return a.Do(ctx, "DELETE", fmt.Sprintf("/api/alert-rules/%d", id), nil, nil)
}
