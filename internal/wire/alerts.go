package wire

import "time"

// Alert is an alert as GET /api/alerts lists it.
type Alert struct {
	ID         int64      `json:"id"`
	DeviceID   string     `json:"deviceId"`
	Kind       string     `json:"kind"`
	OpenedAt   time.Time  `json:"openedAt"`
	ResolvedAt *time.Time `json:"resolvedAt"`
	Message    string     `json:"message"`
	// Notification state, for whoever wonders why the webhook was quiet.
	Notified    bool   `json:"notified"`
	NotifyError string `json:"notifyError,omitempty"`
}

// AlertRule is an alert rule on measured values, with its state on each
// device it judged.
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

// AlertRuleState is where a rule stands on one device.
type AlertRuleState struct {
	DeviceID     string     `json:"deviceId"`
	Firing       bool       `json:"firing"`
	PendingSince *time.Time `json:"pendingSince"`
	ClearSince   *time.Time `json:"clearSince"`
	LastValue    *float64   `json:"lastValue"`
	LastAt       *time.Time `json:"lastAt"`
}
