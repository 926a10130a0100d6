package httpapi

import (
	"fmt"
	"math"
	"math/big"
	"time"
)

// A query's range may run from year 0000 to 9999 (RFC 3339), about 10,000
// years, while time.Duration holds only 292: time.Sub then saturates, and
// arithmetic on the saturated span wraps (a bucket count came out
// negative and let a 1 s bucket over 10,000 years through). These helpers
// count in exact integers instead.

// saturated reports whether to.Sub(from) did not fit a time.Duration.
func saturated(from, to time.Time) bool {
	d := to.Sub(from)
	return d == math.MaxInt64 || d == math.MinInt64
}

// bucketsIn is how many buckets of width b cover [from, to): the exact
// ceiling of (to - from) / b for any two times, saturating at MaxInt64.
// b must be positive.
func bucketsIn(from, to time.Time, b time.Duration) int64 {
	if !saturated(from, to) {
		d := to.Sub(from)
		n := d / b
		if d%b > 0 {
			n++ // no d+b-1, which can wrap
		}
		return int64(n)
	}
	ns := big.NewInt(to.Unix() - from.Unix())
	ns.Mul(ns, big.NewInt(int64(time.Second)))
	ns.Add(ns, big.NewInt(int64(to.Nanosecond()-from.Nanosecond())))
	n, rem := new(big.Int).QuoRem(ns, big.NewInt(int64(b)), new(big.Int))
	if rem.Sign() > 0 {
		n.Add(n, big.NewInt(1))
	}
	if !n.IsInt64() {
		if n.Sign() < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return n.Int64()
}

// spanText is to - from for a person: a duration, or days beyond 292 years.
func spanText(from, to time.Time) string {
	if saturated(from, to) {
		return fmt.Sprintf("%d days", bucketsIn(from, to, 24*time.Hour))
	}
	return to.Sub(from).Round(time.Second).String()
}

// defaultBucketFor is DefaultBucket for the range [from, to), whatever its
// length: over 292 years, whole days giving at most targetPoints buckets,
// and never wider than maxBucketWidth (at most 1,000 buckets in the 10,000
// years RFC 3339 can name).
func defaultBucketFor(from, to time.Time) time.Duration {
	if !saturated(from, to) {
		return min(DefaultBucket(to.Sub(from)), maxBucketWidth)
	}
	days := bucketsIn(from, to, targetPoints*24*time.Hour)
	return min(time.Duration(days)*24*time.Hour, maxBucketWidth)
}

// minBucketFor is the narrowest whole-second bucket giving at most
// maxBuckets over [from, to).
func minBucketFor(from, to time.Time) time.Duration {
	return time.Duration(bucketsIn(from, to, maxBuckets*time.Second)) * time.Second
}
