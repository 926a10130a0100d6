package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
)

// Settings keeps the settings that are changed remotely: the fleet
// default and each device's own. Every change takes the next value of one
// counter shared by all scopes, so a device's effective revision (the
// larger of the default's and its own) changes whenever either does, and
// never goes back.
type Settings interface {
	// FleetSettings returns the fleet default (empty, Rev 0 when never set).
	FleetSettings(ctx context.Context) (thermowatt.SettingsSet, error)
	// SetFleetSettings replaces the fleet default and returns its new
	// revision. The values must be valid (Settings.Validate).
	SetFleetSettings(ctx context.Context, s thermowatt.Settings, now time.Time) (rev int64, err error)
	// DeviceSettings returns a device's own settings (empty, Rev 0 when
	// never set); ErrNotFound when the device is unknown.
	DeviceSettings(ctx context.Context, deviceID string) (thermowatt.SettingsSet, error)
	// SetDeviceSettings replaces a device's own settings and returns the
	// new revision; ErrNotFound when the device is unknown.
	SetDeviceSettings(ctx context.Context, deviceID string, s thermowatt.Settings, now time.Time) (rev int64, err error)
	// EffectiveSettings returns what a device should apply, in one read;
	// ErrNotFound when the device is unknown.
	EffectiveSettings(ctx context.Context, deviceID string) (thermowatt.EffectiveSettings, error)
}

// Firmware keeps firmware releases, files included.
type Firmware interface {
	// CreateRelease stores a release with its files' contents, in one
	// transaction; ErrExists when the version is already published.
	CreateRelease(ctx context.Context, r thermowatt.Release) error
	// ListReleases returns every release newest first, files sorted by
	// path and without their contents.
	ListReleases(ctx context.Context) ([]thermowatt.Release, error)
	// GetRelease returns one release, files sorted by path and without
	// contents; ErrNotFound when unknown.
	GetRelease(ctx context.Context, version string) (thermowatt.Release, error)
	// FirmwareFile returns one file of a release with its contents;
	// ErrNotFound when the release or the file is unknown.
	FirmwareFile(ctx context.Context, version, path string) (thermowatt.FirmwareFile, error)
	// CountRunningFirmware counts devices by the firmware they report
	// running (payload.device.firmware, "" when none) and the state of
	// their last update (payload.device.update.state, "" when none), in
	// one aggregate query.
	CountRunningFirmware(ctx context.Context) ([]FirmwareCount, error)
	// CountDeviceCAs counts devices by the CAs they report
	// (payload.device.ca.active and .waiting, "" when absent or not a
	// string), in one aggregate query (devicecas.go).
	CountDeviceCAs(ctx context.Context) ([]CACount, error)
}

// FirmwareCount is how many devices run one version in one update state.
type FirmwareCount struct {
	Version     string
	UpdateState string
	Devices     int
}

// Rollouts keeps which firmware version each device should run.
type Rollouts interface {
	// CreateRollout stores a rollout of r.Version to r.Devices, or to
	// every device (r.All), and returns it with its ID and CreatedAt set;
	// ErrNotFound when the version or one of the devices is unknown.
	CreateRollout(ctx context.Context, r thermowatt.Rollout, now time.Time) (thermowatt.Rollout, error)
	// SetRolloutPaused pauses or resumes a rollout; ErrNotFound when unknown.
	SetRolloutPaused(ctx context.Context, id int64, paused bool) (thermowatt.Rollout, error)
	// ListRollouts returns every rollout, newest first.
	ListRollouts(ctx context.Context) ([]thermowatt.Rollout, error)
	// Desired returns the settings revision and firmware version a device
	// should have, in one query: every answer to a device's readings
	// carries it. An unknown device gets the zero value.
	Desired(ctx context.Context, deviceID string) (thermowatt.Desired, error)
	// DesiredVersion returns a value that changes whenever any device's
	// desired state may have: a settings change, a new rollout, a pause or
	// a resume. One cheap query, so that every instance can ask it every
	// second and forget what it cached when it moves.
	DesiredVersion(ctx context.Context) (string, error)
}

// MergeSettings makes a device's effective settings from the fleet
// default and its own, as both backends store them (JSON objects).
func MergeSettings(fleet []byte, fleetRev int64, own []byte, ownRev int64) (thermowatt.EffectiveSettings, error) {
	var f, o thermowatt.Settings
	if err := json.Unmarshal(fleet, &f); err != nil {
		return thermowatt.EffectiveSettings{}, fmt.Errorf("fleet settings: %w", err)
	}
	if err := json.Unmarshal(own, &o); err != nil {
		return thermowatt.EffectiveSettings{}, fmt.Errorf("device settings: %w", err)
	}
	return thermowatt.EffectiveSettings{Rev: max(fleetRev, ownRev), Values: f.Merge(o)}, nil
}
