package thermowatt

import "time"

// DeviceStatus is what the device list, the metrics and the command line
// say of a device.
type DeviceStatus string

const (
	StatusNew     DeviceStatus = "new" // registered, never sent a reading
	StatusOK      DeviceStatus = "ok"
	StatusSilent  DeviceStatus = "silent"  // missed its expected readings
	StatusFailing DeviceStatus = "failing" // a failing alert is open
)

// Statuses lists every status, for reports that show zeros too.
var Statuses = []DeviceStatus{StatusNew, StatusOK, StatusSilent, StatusFailing}

// SilentAt returns when d crosses (or crossed) the silence threshold: missed
// expected intervals after its last reading. ok is false for a device that
// never sent (it is new, not silent) or when silence is not watched
// (missed <= 0).
func (d Device) SilentAt(missed int) (at time.Time, ok bool) {
	if d.LastSeenAt == nil || missed <= 0 {
		return time.Time{}, false
	}
	interval := time.Duration(max(d.ExpectedIntervalS, 1)) * time.Second
	return d.LastSeenAt.Add(time.Duration(missed) * interval), true
}

// Status is d's status at now, given after how many missed intervals a
// device is silent. Silent overrides failing, because a silent device's
// health report is stale; failing overrides new, because a device whose
// every request is refused never gets a reading in.
func (d Device) Status(now time.Time, missed int) DeviceStatus {
	switch at, ok := d.SilentAt(missed); {
	case ok && now.After(at):
		return StatusSilent
	case d.Failing:
		return StatusFailing
	case d.LastSeenAt == nil:
		return StatusNew
	}
	return StatusOK
}
