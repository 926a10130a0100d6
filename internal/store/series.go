package store

import (
	"time"

	"github.com/thermowatt/thermowatt"
)

// SeriesQuery asks for one device's readings aggregated into time buckets,
// for charts: a month of a device reporting every few seconds becomes a few
// hundred points computed by the database instead of a million rows sent
// to the browser.
type SeriesQuery struct {
	DeviceID string
	From     time.Time // inclusive, on RecordedAt
	To       time.Time // exclusive, on RecordedAt
	// Bucket is the width of one bucket, at least a microsecond. Buckets are
	// aligned to the Unix epoch (a 5-minute bucket starts at :00, :05, ...),
	// not to From, so that a chart refreshed with a moved From keeps its
	// points where they were.
	Bucket time.Duration
}

// SeriesPoint is one bucket that holds at least one reading. Buckets
// without readings are absent: a chart shows them as a gap.
type SeriesPoint struct {
	Time  time.Time // start of the bucket, UTC
	Count int64     // readings in the bucket
	// Stats is each quantity's, by thermowatt.Quantity. Pressure's comes
	// from payload.sensor.bmp280.pressure_hpa (the firmware's BMP280
	// reports it there) when that is a number.
	Stats [thermowatt.NumQuantities]Stats
}

// Stats aggregates one field over a bucket's readings that have it; all
// nil when none has.
type Stats struct {
	Avg, Min, Max *float64
	// N is how many readings had the field: what merges two buckets' Avg.
	N int64
}

// BucketStart is the start of the epoch-aligned bucket holding t, as both
// backends compute it.
func BucketStart(t time.Time, bucket time.Duration) time.Time {
	us, b := UTC(t).UnixMicro(), bucket.Microseconds()
	start := us - us%b
	if us%b < 0 { // before 1970: floor, not truncation toward zero
		start -= b
	}
	return time.UnixMicro(start).UTC()
}
