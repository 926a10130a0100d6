package thermowatt

// DefaultIntervalS is the firmware's interval_s when neither config.json
// nor the remote settings set it (esp32/lib/config.py).
const DefaultIntervalS = 300

// IntervalS is how often a device with these effective settings measures
// and sends, in seconds: their interval_s, else DefaultIntervalS. It is
// the one interval the service goes by: a device is silent after
// ALERT_MISSED_INTERVALS of it, and energy spans no gap longer than twice
// it (Device.ExpectedIntervalS follows it).
func (s Settings) IntervalS() int {
	if f, ok := s["interval_s"].(float64); ok && f >= 1 {
		return int(f)
	}
	return DefaultIntervalS
}
