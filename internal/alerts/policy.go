// Package alerts decides when a device is silent or failing, opens and
// resolves alerts for it, and notifies each transition to a webhook
// exactly once. All state lives in the database (store.Alerts), so any number
// of checkers (serve's ticker on each instance, the cron job) may run at
// the same moment: the database decides which of them acts.
package alerts

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
)

// Policy says when a device is silent or failing. The defaults are in
// internal/config (ALERT_MISSED_INTERVALS, FAILING_*); a zero threshold
// turns its rule off.
type Policy struct {
	// MissedIntervals: silent once this many of the device's expected
	// intervals passed without an accepted reading.
	MissedIntervals int
	// RejectedPerHour: failing at this many readings of the device
	// rejected as invalid within the last hour.
	RejectedPerHour int64
	// AuthFailuresPerHour: failing at this many requests refused (403)
	// for writing the device's readings within the last hour.
	AuthFailuresPerHour int64
	// DroppedPerHour: failing when the device's own count of readings it
	// had to drop (payload.device.dropped) grew this much within an hour.
	DroppedPerHour int64
	// QueueDepth: failing while the device reports this many readings
	// waiting in its queue (payload.device.queue_depth).
	QueueDepth int64
}

// DefaultPolicy is the policy when nothing is configured.
var DefaultPolicy = Policy{MissedIntervals: 3, RejectedPerHour: 10, AuthFailuresPerHour: 5, DroppedPerHour: 1, QueueDepth: 100}

// Window is the "last hour" of the failing rules.
const Window = time.Hour

// Health is the part of payload.device the failing and update rules read.
type Health struct {
	QueueDepth *int64 `json:"queue_depth"`
	Dropped    *int64 `json:"dropped"`
	LastError  any    `json:"last_error"`
	Update     Update `json:"update"`
}

// Update is the device's report of its last firmware update.
type Update struct {
	State   string `json:"state"`
	Version string `json:"version"`
	Reason  any    `json:"reason"`
}

func parseHealth(raw json.RawMessage) Health {
	var h Health
	_ = json.Unmarshal(raw, &h) // a device's odd report must not stop the check
	return h
}

// failingReasons lists why a device is failing, empty when it is not.
// droppedGrowth is how much its dropped count grew within the window.
func (p Policy) failingReasons(d thermowatt.Device, f thermowatt.Failures, h Health, droppedGrowth int64) []string {
	var why []string
	if p.RejectedPerHour > 0 && f.Rejected >= p.RejectedPerHour {
		why = append(why, fmt.Sprintf("%d readings rejected as invalid in the last hour (threshold %d)", f.Rejected, p.RejectedPerHour))
	}
	if p.AuthFailuresPerHour > 0 && f.AuthFailures >= p.AuthFailuresPerHour {
		why = append(why, fmt.Sprintf("%d requests refused for its readings in the last hour (threshold %d)", f.AuthFailures, p.AuthFailuresPerHour))
	}
	if p.QueueDepth > 0 && h.QueueDepth != nil && *h.QueueDepth >= p.QueueDepth {
		why = append(why, fmt.Sprintf("%d readings queued on the device (threshold %d)", *h.QueueDepth, p.QueueDepth))
	}
	if p.DroppedPerHour > 0 && droppedGrowth >= p.DroppedPerHour {
		why = append(why, fmt.Sprintf("the device dropped %d readings in the last hour (threshold %d)", droppedGrowth, p.DroppedPerHour))
	}
	if len(why) > 0 && h.LastError != nil && h.LastError != "" {
		why = append(why, "its last error: "+quoted(h.LastError))
	}
	return why
}

// silentMessage is the text of a silent alert, kept with it.
func silentMessage(d thermowatt.Device, p Policy) string {
	return fmt.Sprintf("%s is silent: no reading since %s (expected every %s; silent after %d missed)",
		d.ID, d.LastSeenAt.UTC().Format(time.RFC3339), time.Duration(d.ExpectedIntervalS)*time.Second, p.MissedIntervals)
}

// updateMessage is the text of an update alert: which version the device
// gave up on (the update's version), the one it went back to (the firmware
// it reports running), and why, as it said.
func updateMessage(d thermowatt.Device, u Update) string {
	msg := fmt.Sprintf("%s rolled back the firmware update", d.ID)
	if u.Version != "" {
		msg += " from " + quoted(u.Version)
	}
	var running struct {
		Firmware string `json:"firmware"`
	}
	_ = json.Unmarshal(d.Health, &running)
	if running.Firmware != "" && running.Firmware != u.Version {
		msg += " to " + quoted(running.Firmware)
	}
	if u.Reason != nil && u.Reason != "" {
		msg += ": " + quoted(u.Reason)
	}
	return msg + " (it runs its previous firmware; see docs/fleet.md, Rolling back)"
}

func failingMessage(d thermowatt.Device, why []string) string {
	return fmt.Sprintf("%s is failing: %s", d.ID, strings.Join(why, "; "))
}

// Text is the notification of one transition of an alert.
func Text(a thermowatt.Alert, transition string) string {
	if transition == thermowatt.TransitionResolved && a.ResolvedAt != nil {
		took := a.ResolvedAt.Sub(a.OpenedAt).Round(time.Second)
		what := "is sending again"
		switch a.Kind {
		case thermowatt.KindFailing:
			what = "is no longer failing"
		case thermowatt.KindUpdate:
			what = "reports an update state other than rolled back"
		case thermowatt.KindValue:
			what = "is back within its alert rule"
		}
		return fmt.Sprintf("[thermowatt] RESOLVED %s %s after %s (alert #%d: %s)", a.DeviceID, what, took, a.ID, a.Message)
	}
	return fmt.Sprintf("[thermowatt] ALERT #%d %s", a.ID, a.Message)
}
