package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Store is what a check reads and writes.
type Store interface {
	store.Devices
	store.FailureCounts
	store.Alerts
	// The alert rules on measured values (rules.go) read what devices
	// sent: their new readings, and the roll-ups for energy.
	store.AlertRules
	store.Readings
	store.Rollups
}

// Checker runs one check: it opens and resolves alerts for every device,
// then delivers pending notifications. It keeps no state of its own.
type Checker struct {
	Store   Store
	Policy  Policy
	Webhook *Webhook // nil: transitions are recorded but sent nowhere
	Now     func() time.Time
	Log     *slog.Logger
}

// Report is what one check did.
type Report struct {
	Devices   int
	Opened    []string // "device/kind" of alerts this check opened
	Resolved  []string
	Notified  int // transitions delivered
	Failed    int // deliveries that failed and will be retried
	Undeliver int // transitions recorded without a webhook
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// Check evaluates every device and delivers notifications. An error from
// one device does not stop the others; they are joined in the result.
func (c *Checker) Check(ctx context.Context) (Report, error) {
	var r Report
	now := c.now()
	failures, err := c.Store.FailuresSince(ctx, now.Add(-Window))
	if err != nil {
		return r, fmt.Errorf("alerts: failure counts: %w", err)
	}
	rules, err := c.loadRules(ctx)
	if err != nil {
		return r, fmt.Errorf("alerts: alert rules: %w", err)
	}
	var errs []error
	err = store.EachDevice(ctx, c.Store, func(d thermowatt.Device) error {
		r.Devices++
		if err := c.checkDevice(ctx, d, failures[d.ID], now, &r); err != nil {
			errs = append(errs, fmt.Errorf("device %s: %w", d.ID, err))
		}
		if err := c.checkRules(ctx, d, rules, now, &r); err != nil {
			errs = append(errs, fmt.Errorf("device %s: %w", d.ID, err))
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("alerts: list devices: %w", err)
	}
	if err := c.saveProgress(ctx, rules); err != nil {
		errs = append(errs, fmt.Errorf("alerts: alert rule states: %w", err))
	}
	if err := c.Deliver(ctx, &r); err != nil {
		errs = append(errs, err)
	}
	return r, errors.Join(errs...)
}

func (c *Checker) checkDevice(ctx context.Context, d thermowatt.Device, f thermowatt.Failures, now time.Time, r *Report) error {
	// Silent: the database re-checks that the device has not sent since
	// we read it (IfLastSeen), so a checker holding a stale view cannot
	// open an alert on it; resolving needs data newer than the opening.
	if at, ok := d.SilentAt(c.Policy.MissedIntervals); ok && now.After(at) {
		if !d.SilentAlertOpen {
			ok, err := c.Store.OpenAlert(ctx, thermowatt.NewAlert{DeviceID: d.ID, Kind: thermowatt.KindSilent,
				Message: silentMessage(d, c.Policy), At: now, IfLastSeen: d.LastSeenAt})
			if err != nil {
				return err
			}
			if ok {
				r.Opened = append(r.Opened, d.ID+"/"+thermowatt.KindSilent)
				c.log().Warn("alert opened", "device", d.ID, "kind", thermowatt.KindSilent, "lastSeen", d.LastSeenAt)
			}
		}
	} else if d.SilentAlertOpen {
		ok, err := c.Store.ResolveAlert(ctx, d.ID, thermowatt.KindSilent, now, true)
		if err != nil {
			return err
		}
		if ok {
			r.Resolved = append(r.Resolved, d.ID+"/"+thermowatt.KindSilent)
			c.log().Info("alert resolved", "device", d.ID, "kind", thermowatt.KindSilent)
		}
	}

	if err := c.checkUpdate(ctx, d, now, r); err != nil {
		return err
	}

	why, err := c.failing(ctx, d, f)
	if err != nil {
		return err
	}
	switch {
	case len(why) > 0 && !d.Failing:
		ok, err := c.Store.OpenAlert(ctx, thermowatt.NewAlert{DeviceID: d.ID, Kind: thermowatt.KindFailing,
			Message: failingMessage(d, why), At: now})
		if err != nil {
			return err
		}
		if ok {
			r.Opened = append(r.Opened, d.ID+"/"+thermowatt.KindFailing)
			c.log().Warn("alert opened", "device", d.ID, "kind", thermowatt.KindFailing, "why", why)
		}
	case len(why) == 0 && d.Failing:
		ok, err := c.Store.ResolveAlert(ctx, d.ID, thermowatt.KindFailing, now, false)
		if err != nil {
			return err
		}
		if ok {
			r.Resolved = append(r.Resolved, d.ID+"/"+thermowatt.KindFailing)
			c.log().Info("alert resolved", "device", d.ID, "kind", thermowatt.KindFailing)
		}
	}
	return nil
}

// failing returns why d is failing. The dropped count is the device's
// lifetime total (it survives reboots), so the rule looks at its growth
// over the window: the latest report against the one an hour earlier.
func (c *Checker) failing(ctx context.Context, d thermowatt.Device, f thermowatt.Failures) ([]string, error) {
	h := parseHealth(d.Health)
	var growth int64
	if c.Policy.DroppedPerHour > 0 && h.Dropped != nil && *h.Dropped > 0 && d.HealthAt != nil {
		raw, ok, err := c.Store.HealthNear(ctx, d.ID, d.HealthAt.Add(-Window))
		if err != nil {
			return nil, err
		}
		before := int64(0)
		if ok {
			if b := parseHealth(raw).Dropped; b != nil {
				before = *b
			}
		}
		// A count that went down was reset (reflashed device): count from 0.
		if *h.Dropped >= before {
			growth = *h.Dropped - before
		} else {
			growth = *h.Dropped
		}
	}
	return c.Policy.failingReasons(d, f, h, growth), nil
}

// checkUpdate opens an update alert while the device's newest report says
// it rolled back a firmware update, and resolves it once a report says
// anything else (it retried, installed another version, or is idle).
func (c *Checker) checkUpdate(ctx context.Context, d thermowatt.Device, now time.Time, r *Report) error {
	u := parseHealth(d.Health).Update
	rolledBack := u.State == thermowatt.UpdateRolledBack
	switch {
	case rolledBack && !d.UpdateAlertOpen:
		ok, err := c.Store.OpenAlert(ctx, thermowatt.NewAlert{DeviceID: d.ID, Kind: thermowatt.KindUpdate,
			Message: updateMessage(d, u), At: now})
		if err != nil {
			return err
		}
		if ok {
			r.Opened = append(r.Opened, d.ID+"/"+thermowatt.KindUpdate)
			c.log().Warn("alert opened", "device", d.ID, "kind", thermowatt.KindUpdate, "version", u.Version)
		}
	case !rolledBack && d.UpdateAlertOpen:
		ok, err := c.Store.ResolveAlert(ctx, d.ID, thermowatt.KindUpdate, now, false)
		if err != nil {
			return err
		}
		if ok {
			r.Resolved = append(r.Resolved, d.ID+"/"+thermowatt.KindUpdate)
			c.log().Info("alert resolved", "device", d.ID, "kind", thermowatt.KindUpdate)
		}
	}
	return nil
}
