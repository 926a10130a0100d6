package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/thermowatt/thermowatt"
)

// FailureCounts keeps what the server refused, per device and minute.
type FailureCounts interface {
	// CountFailures adds rejected readings and refused authentications to
	// a device's counts, in the minute of at. An unknown device is ignored.
	CountFailures(ctx context.Context, deviceID string, rejected, authFailures int, at time.Time) error
	// FailuresSince sums each device's counted failures from since on
	// (minute buckets starting at or after since).
	FailuresSince(ctx context.Context, since time.Time) (map[string]thermowatt.Failures, error)
}

// Alerts keeps alerts, whose state the database arbitrates so that
// several checkers at once open, resolve and notify each one once.
type Alerts interface {
	// OpenAlert opens an alert unless one of the same device and kind is
	// open. opened is true only for the one call that opened it, however
	// many race. With a.IfLastSeen set, it opens only while the device's
	// last_seen_at is still at or before that time (the checker's reading
	// is not stale).
	OpenAlert(ctx context.Context, a thermowatt.NewAlert) (opened bool, err error)
	// ResolveAlert resolves the open alert of that device and kind, if
	// any; resolved is true only for the call that resolved it. With
	// needData, only when the device has sent data since it opened.
	ResolveAlert(ctx context.Context, deviceID, kind string, at time.Time, needData bool) (resolved bool, err error)
	// CountOpenAlerts counts the open alerts by kind.
	CountOpenAlerts(ctx context.Context) (map[string]int, error)
	// ListAlerts returns alerts newest first.
	ListAlerts(ctx context.Context, q AlertQuery) ([]thermowatt.Alert, error)
	// ClaimAlerts claims up to limit alerts with a transition not yet
	// notified and due (next_attempt_at reached), for lease: no other
	// caller gets them until the lease ends. Each has Claim set.
	ClaimAlerts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]thermowatt.Alert, error)
	// MarkNotified records that a transition (TransitionOpened or
	// TransitionResolved) was delivered, if the claim is still held.
	MarkNotified(ctx context.Context, id int64, claim, transition string, at time.Time) error
	// NotifyFailed records a failed delivery, releases the claim and sets
	// when to try again.
	NotifyFailed(ctx context.Context, id int64, claim, errMsg string, next time.Time) error
}

// Retention removes what is older than the retention periods.
type Retention interface {
	// DeleteReadingsBefore deletes up to limit readings recorded before
	// cutoff, oldest first, in one short transaction, keeping device
	// reading counts right; it returns how many it deleted. Concurrent
	// callers delete disjoint rows.
	DeleteReadingsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	// DeleteRawBefore does the same for the raw archive, by received_at.
	DeleteRawBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	// DeleteOpsBefore deletes failure counts and resolved alerts older
	// than cutoff.
	DeleteOpsBefore(ctx context.Context, cutoff time.Time) (int64, error)
}

// AlertQuery selects alerts.
type AlertQuery struct {
	OpenOnly bool
	DeviceID string // empty: every device
	Limit    int    // 1..
}

// NewClaim returns a random token that identifies one claim of alerts, so
// that a claimer whose lease ran out cannot mark what another now holds.
func NewClaim() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
