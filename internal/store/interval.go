package store

import (
	"context"
	"fmt"

	"github.com/thermowatt/thermowatt"
)

// SettingsAndDevices is what keeping the one interval needs.
type SettingsAndDevices interface {
	Settings
	Devices
}

// FollowInterval makes a device's expected interval (what silence alerts
// and the energy gap rule go by) its effective interval_s setting, which
// is what the device itself does: one interval, never two that disagree.
// Called after every settings change that may move it and when a device
// is registered; a no-op when they already agree (a change recomputes
// the device's roll-ups: see Devices.SetExpectedInterval).
func FollowInterval(ctx context.Context, st SettingsAndDevices, deviceID string) error {
	eff, err := st.EffectiveSettings(ctx, deviceID)
	if err != nil {
		return err
	}
	if err := st.SetExpectedInterval(ctx, deviceID, eff.Values.IntervalS()); err != nil {
		return fmt.Errorf("device %s: interval_s %d: %w", deviceID, eff.Values.IntervalS(), err)
	}
	return nil
}

// FollowIntervals does FollowInterval for every device: after a change of
// the fleet default, and at serve's start (a database from before the one
// interval, or a follow-up that failed).
func FollowIntervals(ctx context.Context, st SettingsAndDevices) error {
	var ids []string
	if err := EachDevice(ctx, st, func(d thermowatt.Device) error { ids = append(ids, d.ID); return nil }); err != nil {
		return err
	}
	for _, id := range ids {
		if err := FollowInterval(ctx, st, id); err != nil {
			return err
		}
	}
	return nil
}
