package store

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt/internal/rollup"
)

// EnergyBucket is the width of one energy bucket.
type EnergyBucket string

const (
	EnergyHour  EnergyBucket = "hour"
	EnergyDay   EnergyBucket = "day"
	EnergyMonth EnergyBucket = "month"
)

// MaxEnergyBuckets bounds one answer: ten years of days, a year of hours.
const MaxEnergyBuckets = 3660

// EnergyQuery asks for one device's energy per bucket. Buckets are
// calendar hours, days or months in Location (UTC when nil): From is
// moved back to the start of its bucket and To forward to the end of its
// own, so every bucket answered is whole.
type EnergyQuery struct {
	DeviceID string
	From, To time.Time
	Bucket   EnergyBucket
	Location *time.Location
}

// EnergyPoint is one bucket's energy.
type EnergyPoint struct {
	Start time.Time // in the query's Location
	Wh    float64
	// Coverage is the share of the bucket (0..1) whose energy is known:
	// spanned by readings with power no further apart than twice the
	// device's expected interval. Wh covers only that share.
	Coverage float64
}

// Energy answers q from the hourly roll-ups: every bucket of the range,
// oldest first, those without readings with Wh and Coverage 0. In a
// Location whose offset from UTC is not a whole number of hours (India,
// Nepal, parts of Australia) hours do not line up with the roll-ups' UTC
// hours, and it returns an error saying so.
func Energy(ctx context.Context, rollups Rollups, q EnergyQuery) ([]EnergyPoint, error) {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	next, err := bucketStep(q.Bucket)
	if err != nil {
		return nil, err
	}
	if !q.From.Before(q.To) {
		return nil, fmt.Errorf("from must be before to")
	}
	start := bucketFloor(q.From.In(loc), q.Bucket)
	var bounds []time.Time
	for t := start; ; t = next(t) {
		if t.UnixMicro()%int64(rollup.Width/time.Microsecond) != 0 {
			return nil, fmt.Errorf("%s is %s from UTC there, not a whole number of hours, and energy is kept per UTC hour", loc, offsetOf(t))
		}
		bounds = append(bounds, t)
		if !t.Before(q.To) {
			break
		}
		if len(bounds) > MaxEnergyBuckets {
			return nil, fmt.Errorf("more than %d %s buckets: ask for a shorter range or a wider bucket", MaxEnergyBuckets, q.Bucket)
		}
	}
	if len(bounds) < 2 { // From == To on a bucket's edge: that bucket
		bounds = append(bounds, next(bounds[0]))
	}
	hours, err := rollups.RollupHours(ctx, RollupQuery{DeviceIDs: []string{q.DeviceID}, From: bounds[0], To: bounds[len(bounds)-1]})
	if err != nil {
		return nil, err
	}
	out := make([]EnergyPoint, len(bounds)-1)
	covered := make([]float64, len(out))
	i := 0
	for _, h := range hours {
		for i < len(out) && !h.Hour.Before(bounds[i+1]) {
			i++
		}
		if i == len(out) {
			break
		}
		out[i].Wh += h.EnergyWh
		covered[i] += h.CoveredS
	}
	for i := range out {
		out[i].Start = bounds[i]
		out[i].Coverage = min(1, max(0, covered[i]/bounds[i+1].Sub(bounds[i]).Seconds()))
		if out[i].Coverage < 1e-9 { // what an addition and its removal leave
			out[i].Coverage, out[i].Wh = 0, 0
		}
	}
	return out, nil
}

// ParseEnergyBucket accepts hour, day or month.
func ParseEnergyBucket(s string) (EnergyBucket, error) {
	b := EnergyBucket(s)
	if _, err := bucketStep(b); err != nil {
		return "", err
	}
	return b, nil
}

func bucketStep(b EnergyBucket) (func(time.Time) time.Time, error) {
	switch b {
	case EnergyHour:
		return func(t time.Time) time.Time { return t.Add(time.Hour) }, nil
	case EnergyDay:
		return func(t time.Time) time.Time {
			return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
		}, nil
	case EnergyMonth:
		return func(t time.Time) time.Time { return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location()) }, nil
	}
	return nil, fmt.Errorf("bucket=%q: want hour, day or month", string(b))
}

func bucketFloor(t time.Time, b EnergyBucket) time.Time {
	switch b {
	case EnergyDay:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	case EnergyMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, t.Location())
	}
	return t.Truncate(time.Hour)
}

func offsetOf(t time.Time) string {
	_, off := t.Zone()
	return (time.Duration(off) * time.Second).String()
}
