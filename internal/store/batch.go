package store

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt/internal/reading"
)

// This file holds what both backends share when writing readings, so that
// they agree on the identity of a reading and on the order of writes.

// UTC returns t as the store keeps it: in UTC, truncated to
// reading.Precision. PostgreSQL would round nanoseconds rather than
// truncate them, so the backends truncate before writing.
func UTC(t time.Time) time.Time {
	return t.Truncate(reading.Precision).UTC()
}

// UniqueSorted returns the readings of rs with their times normalised by UTC,
// sorted by (DeviceID, RecordedAt) and with repeats of a (DeviceID,
// RecordedAt) removed (the first one in rs is kept). rs is not modified.
//
// The order matters under concurrency: two transactions that insert
// overlapping readings in the same order wait for each other instead of
// deadlocking.
func UniqueSorted(rs []reading.Reading) []reading.Reading {
	out := make([]reading.Reading, len(rs))
	copy(out, rs)
	for i := range out {
		out[i].RecordedAt = UTC(out[i].RecordedAt)
	}
	// Stable, so that of two repeats the one first in rs is kept.
	slices.SortStableFunc(out, compareIdentity)
	return slices.CompactFunc(out, func(a, b reading.Reading) bool {
		return compareIdentity(a, b) == 0
	})
}

func compareIdentity(a, b reading.Reading) int {
	if c := cmp.Compare(a.DeviceID, b.DeviceID); c != 0 {
		return c
	}
	return a.RecordedAt.Compare(b.RecordedAt)
}

// DeviceIDs returns the distinct device ids of rs, sorted, which is the
// order in which backends register devices (see UniqueSorted for why).
func DeviceIDs(rs []reading.Reading) []string {
	ids := make([]string, 0, 4)
	for _, r := range rs {
		ids = append(ids, r.DeviceID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Unavailable wraps err so that errors.Is(err, ErrUnavailable) holds while
// the original error stays in the message and in the chain.
func Unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
