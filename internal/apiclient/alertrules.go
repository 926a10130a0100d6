package apiclient

import (
	"context"
	"fmt"
	"time"
)

// AlertRule is an alert rule on a measured value as the API shows it.
type AlertRule struct {
	ID         int64            `json:"id"`
	Metric     string           `json:"metric"`
	Comparison string           `json:"comparison"`
	Threshold  float64          `json:"threshold"`
	RateOver   string           `json:"rateOver"`
	For        string           `json:"for"`
	Hysteresis float64          `json:"hysteresis"`
	Devices    []string         `json:"devices"`
	All        bool             `json:"all"`
	Severity   string           `json:"severity"`
	Message    string           `json:"message"`
	Late       bool             `json:"includeLate"`
	CreatedAt  time.Time        `json:"createdAt"`
	UpdatedAt  time.Time        `json:"updatedAt"`
	States     []AlertRuleState `json:"states"`
}

// AlertRuleState is where a rule's evaluation of one device stands.
type AlertRuleState struct {
	DeviceID     string     `json:"deviceId"`
	Firing       bool       `json:"firing"`
	PendingSince *time.Time `json:"pendingSince"`
	ClearSince   *time.Time `json:"clearSince"`
	LastValue    *float64   `json:"lastValue"`
	LastAt       *time.Time `json:"lastAt"`
}

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
func (a *Admin) CreateAlertRule(ctx context.Context, r NewAlertRule) (AlertRule, error) {
	var out AlertRule
	err := a.Do(ctx, "POST", "/api/alert-rules", r, &out)
	return out, err
}

// AlertRules lists every rule with its state, oldest first.
func (a *Admin) AlertRules(ctx context.Context) ([]AlertRule, error) {
	var out struct{ Items []AlertRule }
	err := a.Do(ctx, "GET", "/api/alert-rules", nil, &out)
	return out.Items, err
}

// DeleteAlertRule deletes a rule; its open alerts resolve.
func (a *Admin) DeleteAlertRule(ctx context.Context, id int64) error {
	return a.Do(ctx, "DELETE", fmt.Sprintf("/api/alert-rules/%d", id), nil, nil)
}
