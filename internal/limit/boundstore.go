package limit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// BoundStore bounds the concurrent calls requests make on a store: each call
// holds a slot of the gate for its duration and is cut off after timeout,
// so a slow or stalled database answers 503 instead of collecting
// goroutines and pool connections. It wraps every method of store.Store
// itself rather than embedding one, so a method added to store.Store does
// not compile here until it is bounded too.
type BoundStore struct {
	inner   store.Store
	gate    *Gate
	timeout time.Duration
}

var _ store.Store = (*BoundStore)(nil)

// NewStore puts gate in front of s; timeout bounds each call (0: none).
func NewStore(s store.Store, gate *Gate, timeout time.Duration) *BoundStore {
	return &BoundStore{inner: s, gate: gate, timeout: timeout}
}

// Gate returns the gate, for tests and metrics.
func (s *BoundStore) Gate() *Gate { return s.gate }

func call[T any](s *BoundStore, ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	var out T
	err := s.gate.run(ctx, s.timeout, func(ctx context.Context) (err error) {
		out, err = fn(ctx)
		return err
	})
	return out, err
}

func (s *BoundStore) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	return call(s, ctx, func(ctx context.Context) (store.InsertResult, error) {
		return s.inner.InsertReadings(ctx, rs, receivedAt)
	})
}

func (s *BoundStore) QueryReadings(ctx context.Context, q store.Query) ([]thermowatt.Stored, error) {
	return call(s, ctx, func(ctx context.Context) ([]thermowatt.Stored, error) { return s.inner.QueryReadings(ctx, q) })
}

func (s *BoundStore) RollupHours(ctx context.Context, q store.RollupQuery) ([]rollup.Row, error) {
	return call(s, ctx, func(ctx context.Context) ([]rollup.Row, error) { return s.inner.RollupHours(ctx, q) })
}

func (s *BoundStore) EnergyHours(ctx context.Context, deviceID string, from, to time.Time) ([]store.HourEnergy, error) {
	return call(s, ctx, func(ctx context.Context) ([]store.HourEnergy, error) {
		return s.inner.EnergyHours(ctx, deviceID, from, to)
	})
}

func (s *BoundStore) CreateDevice(ctx context.Context, id string, now time.Time) (thermowatt.Device, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.Device, error) { return s.inner.CreateDevice(ctx, id, now) })
}

func (s *BoundStore) GetDevice(ctx context.Context, id string) (thermowatt.Device, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.Device, error) { return s.inner.GetDevice(ctx, id) })
}

func (s *BoundStore) ListDevices(ctx context.Context, q store.DeviceQuery) ([]thermowatt.Device, error) {
	return call(s, ctx, func(ctx context.Context) ([]thermowatt.Device, error) { return s.inner.ListDevices(ctx, q) })
}

func (s *BoundStore) CreateToken(ctx context.Context, t thermowatt.Token) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.inner.CreateToken(ctx, t) })
}

func (s *BoundStore) TokenByID(ctx context.Context, id string) (thermowatt.Token, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.Token, error) { return s.inner.TokenByID(ctx, id) })
}

func (s *BoundStore) ListTokens(ctx context.Context) ([]thermowatt.Token, error) {
	return call(s, ctx, s.inner.ListTokens)
}

func (s *BoundStore) RevokeToken(ctx context.Context, id string, now time.Time) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.inner.RevokeToken(ctx, id, now) })
}

func (s *BoundStore) CountTokens(ctx context.Context, scope thermowatt.Scope) (int, error) {
	return call(s, ctx, func(ctx context.Context) (int, error) { return s.inner.CountTokens(ctx, scope) })
}

func (s *BoundStore) ArchiveRaw(ctx context.Context, r store.RawRecord) (int64, error) {
	return call(s, ctx, func(ctx context.Context) (int64, error) { return s.inner.ArchiveRaw(ctx, r) })
}

func (s *BoundStore) GetRaw(ctx context.Context, id int64) (store.RawRecord, error) {
	return call(s, ctx, func(ctx context.Context) (store.RawRecord, error) { return s.inner.GetRaw(ctx, id) })
}

func (s *BoundStore) Series(ctx context.Context, q store.SeriesQuery) ([]store.SeriesPoint, error) {
	return call(s, ctx, func(ctx context.Context) ([]store.SeriesPoint, error) { return s.inner.Series(ctx, q) })
}

func (s *BoundStore) CountDevicesByStatus(ctx context.Context, now time.Time, missed int) (map[thermowatt.DeviceStatus]int, error) {
	return call(s, ctx, func(ctx context.Context) (map[thermowatt.DeviceStatus]int, error) {
		return s.inner.CountDevicesByStatus(ctx, now, missed)
	})
}

func (s *BoundStore) SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.inner.SetExpectedInterval(ctx, deviceID, seconds) })
}

func (s *BoundStore) HealthNear(ctx context.Context, deviceID string, at time.Time) (json.RawMessage, bool, error) {
	var ok bool
	health, err := call(s, ctx, func(ctx context.Context) (h json.RawMessage, err error) {
		h, ok, err = s.inner.HealthNear(ctx, deviceID, at)
		return h, err
	})
	return health, ok, err
}

func (s *BoundStore) CountFailures(ctx context.Context, deviceID string, rejected, authFailures int, at time.Time) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error {
		return s.inner.CountFailures(ctx, deviceID, rejected, authFailures, at)
	})
}

func (s *BoundStore) FailuresSince(ctx context.Context, since time.Time) (map[string]thermowatt.Failures, error) {
	return call(s, ctx, func(ctx context.Context) (map[string]thermowatt.Failures, error) {
		return s.inner.FailuresSince(ctx, since)
	})
}

func (s *BoundStore) OpenAlert(ctx context.Context, a thermowatt.NewAlert) (bool, error) {
	return call(s, ctx, func(ctx context.Context) (bool, error) { return s.inner.OpenAlert(ctx, a) })
}

func (s *BoundStore) ResolveAlert(ctx context.Context, deviceID, kind string, at time.Time, needData bool) (bool, error) {
	return call(s, ctx, func(ctx context.Context) (bool, error) {
		return s.inner.ResolveAlert(ctx, deviceID, kind, at, needData)
	})
}

func (s *BoundStore) CountOpenAlerts(ctx context.Context) (map[string]int, error) {
	return call(s, ctx, s.inner.CountOpenAlerts)
}

func (s *BoundStore) ListAlerts(ctx context.Context, q store.AlertQuery) ([]thermowatt.Alert, error) {
	return call(s, ctx, func(ctx context.Context) ([]thermowatt.Alert, error) { return s.inner.ListAlerts(ctx, q) })
}

func (s *BoundStore) ClaimAlerts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]thermowatt.Alert, error) {
	return call(s, ctx, func(ctx context.Context) ([]thermowatt.Alert, error) {
		return s.inner.ClaimAlerts(ctx, now, lease, limit)
	})
}

func (s *BoundStore) MarkNotified(ctx context.Context, id int64, claim, transition string, at time.Time) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.inner.MarkNotified(ctx, id, claim, transition, at) })
}

func (s *BoundStore) NotifyFailed(ctx context.Context, id int64, claim, errMsg string, next time.Time) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.inner.NotifyFailed(ctx, id, claim, errMsg, next) })
}

func (s *BoundStore) DeleteReadingsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	return call(s, ctx, func(ctx context.Context) (int64, error) { return s.inner.DeleteReadingsBefore(ctx, cutoff, limit) })
}

func (s *BoundStore) DeleteRawBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	return call(s, ctx, func(ctx context.Context) (int64, error) { return s.inner.DeleteRawBefore(ctx, cutoff, limit) })
}

func (s *BoundStore) DeleteOpsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	return call(s, ctx, func(ctx context.Context) (int64, error) { return s.inner.DeleteOpsBefore(ctx, cutoff) })
}

func (s *BoundStore) FleetSettings(ctx context.Context) (thermowatt.SettingsSet, error) {
	return call(s, ctx, s.inner.FleetSettings)
}

func (s *BoundStore) SetFleetSettings(ctx context.Context, v thermowatt.Settings, now time.Time) (int64, error) {
	return call(s, ctx, func(ctx context.Context) (int64, error) { return s.inner.SetFleetSettings(ctx, v, now) })
}

func (s *BoundStore) DeviceSettings(ctx context.Context, deviceID string) (thermowatt.SettingsSet, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.SettingsSet, error) {
		return s.inner.DeviceSettings(ctx, deviceID)
	})
}

func (s *BoundStore) SetDeviceSettings(ctx context.Context, deviceID string, v thermowatt.Settings, now time.Time) (int64, error) {
	return call(s, ctx, func(ctx context.Context) (int64, error) { return s.inner.SetDeviceSettings(ctx, deviceID, v, now) })
}

func (s *BoundStore) EffectiveSettings(ctx context.Context, deviceID string) (thermowatt.EffectiveSettings, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.EffectiveSettings, error) {
		return s.inner.EffectiveSettings(ctx, deviceID)
	})
}

func (s *BoundStore) CreateRelease(ctx context.Context, r thermowatt.Release) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.inner.CreateRelease(ctx, r) })
}

func (s *BoundStore) ListReleases(ctx context.Context) ([]thermowatt.Release, error) {
	return call(s, ctx, s.inner.ListReleases)
}

func (s *BoundStore) GetRelease(ctx context.Context, version string) (thermowatt.Release, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.Release, error) { return s.inner.GetRelease(ctx, version) })
}

func (s *BoundStore) FirmwareFile(ctx context.Context, version, path string) (thermowatt.FirmwareFile, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.FirmwareFile, error) {
		return s.inner.FirmwareFile(ctx, version, path)
	})
}

func (s *BoundStore) CountRunningFirmware(ctx context.Context) ([]store.FirmwareCount, error) {
	return call(s, ctx, s.inner.CountRunningFirmware)
}

func (s *BoundStore) CountDeviceCAs(ctx context.Context) ([]store.CACount, error) {
	return call(s, ctx, s.inner.CountDeviceCAs)
}

func (s *BoundStore) CreateRollout(ctx context.Context, r thermowatt.Rollout, now time.Time) (thermowatt.Rollout, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.Rollout, error) { return s.inner.CreateRollout(ctx, r, now) })
}

func (s *BoundStore) SetRolloutPaused(ctx context.Context, id int64, paused bool) (thermowatt.Rollout, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.Rollout, error) {
		return s.inner.SetRolloutPaused(ctx, id, paused)
	})
}

func (s *BoundStore) ListRollouts(ctx context.Context) ([]thermowatt.Rollout, error) {
	return call(s, ctx, s.inner.ListRollouts)
}

func (s *BoundStore) DesiredVersion(ctx context.Context) (string, error) {
	return call(s, ctx, func(ctx context.Context) (string, error) { return s.inner.DesiredVersion(ctx) })
}

func (s *BoundStore) Desired(ctx context.Context, deviceID string) (thermowatt.Desired, error) {
	return call(s, ctx, func(ctx context.Context) (thermowatt.Desired, error) { return s.inner.Desired(ctx, deviceID) })
}

// Ping is not bounded: /readyz must tell whether the database answers
// even while every slot is taken by slow queries.
func (s *BoundStore) Ping(ctx context.Context) error { return s.inner.Ping(ctx) }

// Close closes the store underneath.
func (s *BoundStore) Close() error { return s.inner.Close() }

// Writer is where readings are committed (ingest.Writer).
type Writer interface {
	InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error)
}

// BoundWriter bounds the ingest requests waiting on w at once. A group
// committer coalesces whatever waits into few transactions, so the bound
// is on memory (each waiting request holds its decoded batch) rather than
// on the database.
type BoundWriter struct {
	w    Writer
	gate *Gate
}

// NewWriter puts gate in front of w.
func NewWriter(w Writer, gate *Gate) *BoundWriter { return &BoundWriter{w: w, gate: gate} }

func (b *BoundWriter) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	if err := b.gate.Acquire(ctx); err != nil {
		return store.InsertResult{}, err
	}
	defer b.gate.Release()
	return b.w.InsertReadings(ctx, rs, receivedAt)
}
