package store

import (
	"cmp"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt"
)

// This file holds what both backends share when writing readings, so that
// they agree on the identity of a reading and on the order of writes.

// UTC returns t as the store keeps it: in UTC, truncated to
// thermowatt.Precision. PostgreSQL would round nanoseconds rather than
// truncate them, so the backends truncate before writing.
func UTC(t time.Time) time.Time {
	return t.Truncate(thermowatt.Precision).UTC()
}

// Batch is the readings of one InsertReadings call prepared for writing:
// times normalised by UTC, repeats of a (DeviceID, RecordedAt) removed (the
// first one in the call is kept) and sorted by (DeviceID, RecordedAt).
//
// The order matters under concurrency: two transactions that insert
// overlapping readings in the same order wait for each other instead of
// deadlocking.
type Batch struct {
	Readings []thermowatt.Reading
	origin   []int // origin[i] is the index in the call of Readings[i]
	n        int   // the number of readings in the call
}

// NewBatch prepares rs for writing; rs is not modified. A reading whose
// ReceivedAt is zero is given receivedAt; every ReceivedAt is normalised
// by UTC.
func NewBatch(rs []thermowatt.Reading, receivedAt time.Time) Batch {
	type indexed struct {
		r thermowatt.Reading
		i int
	}
	all := make([]indexed, len(rs))
	for i, r := range rs {
		r.RecordedAt = UTC(r.RecordedAt)
		if r.ReceivedAt.IsZero() {
			r.ReceivedAt = receivedAt
		}
		r.ReceivedAt = UTC(r.ReceivedAt)
		all[i] = indexed{r, i}
	}
	// Stable, so that of two repeats the one first in rs comes first.
	slices.SortStableFunc(all, func(a, b indexed) int { return compareIdentity(a.r, b.r) })
	all = slices.CompactFunc(all, func(a, b indexed) bool { return compareIdentity(a.r, b.r) == 0 })

	b := Batch{Readings: make([]thermowatt.Reading, len(all)), origin: make([]int, len(all)), n: len(rs)}
	for i, x := range all {
		b.Readings[i] = x.r
		b.origin[i] = x.i
	}
	return b
}

// Result is the InsertResult of the call, given which of b.Readings were
// newly stored.
func (b Batch) Result(stored []bool) InsertResult {
	res := InsertResult{Inserted: make([]bool, b.n)}
	for i, ok := range stored {
		if ok {
			res.Inserted[b.origin[i]] = true
			res.Accepted++
		}
	}
	res.Duplicates = b.n - res.Accepted
	return res
}

func compareIdentity(a, b thermowatt.Reading) int {
	if c := cmp.Compare(a.DeviceID, b.DeviceID); c != 0 {
		return c
	}
	return a.RecordedAt.Compare(b.RecordedAt)
}
