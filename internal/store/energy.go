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

// EnergyQueryError is a question Energy cannot answer (not a failure of
// the database): its message says what to ask instead.
type EnergyQueryError struct{ Msg string }

func (e *EnergyQueryError) Error() string { return e.Msg }

// Energy answers q from the hourly roll-ups: every bucket of the range,
// oldest first, those without readings with Wh and Coverage 0. In a
// Location whose offset from UTC is not a whole number of hours (India,
// Nepal, parts of Australia) days and months do not line up with the
// roll-ups' UTC hours, and it returns an *EnergyQueryError saying so, as
// for a range of more than MaxEnergyBuckets.
func Energy(ctx context.Context, rollups Rollups, q EnergyQuery) ([]EnergyPoint, error) {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	if _, err := ParseEnergyBucket(string(q.Bucket)); err != nil {
		return nil, err
	}
	if !q.From.Before(q.To) {
		return nil, &EnergyQueryError{"from must be before to"}
	}
	var bounds []time.Time
	for t := q.Bucket.Floor(q.From.In(loc)); ; t = q.Bucket.Next(t) {
		if t.UnixMicro()%int64(rollup.Width/time.Microsecond) != 0 {
			_, off := t.Zone()
			return nil, &EnergyQueryError{fmt.Sprintf("tz=%q is %s from UTC at %s, not a whole number of hours, and energy is kept per UTC hour: use bucket=hour or a whole-hour zone such as UTC",
				loc.String(), time.Duration(off)*time.Second, t.Format(time.RFC3339))}
		}
		bounds = append(bounds, t)
		if !t.Before(q.To) {
			break
		}
		if len(bounds) > MaxEnergyBuckets {
			return nil, &EnergyQueryError{fmt.Sprintf("from=%s to=%s makes more than %d %s buckets: ask for a shorter range or a wider bucket",
				q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), MaxEnergyBuckets, q.Bucket)}
		}
	}
	hours, err := rollups.EnergyHours(ctx, q.DeviceID, bounds[0], bounds[len(bounds)-1])
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
		out[i].Wh += h.Wh
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
	switch b := EnergyBucket(s); b {
	case EnergyHour, EnergyDay, EnergyMonth:
		return b, nil
	}
	return "", &EnergyQueryError{fmt.Sprintf("bucket=%q must be hour, day or month", s)}
}

// Floor returns the start of the bucket holding t, in t's location.
func (b EnergyBucket) Floor(t time.Time) time.Time {
	switch b {
	case EnergyDay:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	case EnergyMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, t.Location())
	}
	return t.Truncate(time.Hour)
}

// Next returns the start of the bucket after the one starting at t: a
// calendar day or month, whatever daylight saving time does to its length.
func (b EnergyBucket) Next(t time.Time) time.Time {
	switch b {
	case EnergyDay:
		return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
	case EnergyMonth:
		return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location())
	}
	return t.Add(time.Hour)
}
