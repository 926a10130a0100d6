package thermowatt

import "time"

// Alert kinds.
const (
	KindSilent  = "silent"
	KindFailing = "failing"
	// KindUpdate: the device rolled back a firmware update (it did not
	// deliver in time with the new one).
	KindUpdate = "update"
)

// Alert transitions, each notified exactly once.
const (
	TransitionOpened   = "opened"
	TransitionResolved = "resolved"
)

// NewAlert is an alert to open.
type NewAlert struct {
	DeviceID   string
	Kind       string
	Message    string
	At         time.Time
	IfLastSeen *time.Time
}

// Alert is one episode of a device being silent or failing.
type Alert struct {
	ID                 int64
	DeviceID           string
	Kind               string
	Message            string
	OpenedAt           time.Time
	ResolvedAt         *time.Time
	OpenedNotifiedAt   *time.Time
	ResolvedNotifiedAt *time.Time
	NotifyAttempts     int
	NextAttemptAt      *time.Time
	LastError          string
	Claim              string // set by ClaimAlerts
}

// Pending returns the transition of a to notify next, or "" when both are.
func (a Alert) Pending() string {
	switch {
	case a.OpenedNotifiedAt == nil:
		return TransitionOpened
	case a.ResolvedAt != nil && a.ResolvedNotifiedAt == nil:
		return TransitionResolved
	}
	return ""
}
