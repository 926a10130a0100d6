package store

import (
	"slices"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt/internal/rollup"
)

// The roll-ups are kept off the request (TimescaleDB's continuous
// aggregates are the model): storing readings only marks the hours they
// change as pending, in the same transaction, in rollup_pending (one row
// per device and hour, written once however many readings land there); a
// materializer (RunMaterializer) recomputes pending hours from the
// readings in the background and clears their marks; and a read of the
// roll-ups computes the hours still pending from the readings (the
// "real-time aggregate"), so it is exact without waiting.
//
// Which hours a reading at t changes: its own (count and metrics) and
// every hour that [t - gap, t + gap] touches (the trapezoids of energy to
// its neighbours, rollup.MaxGap), so at most two for the default interval.

// RollupLag is how far the materializer is behind.
type RollupLag struct {
	// Pending is how many device-hours wait to be materialized.
	Pending int64
	// Oldest is when the oldest of them was marked; zero when none is.
	Oldest time.Time
}

// MarkedHours returns the hours (unix microseconds, ascending, without
// repeats) that readings at times (ascending) change for a device whose
// rollup.MaxGap is gap.
func MarkedHours(times []int64, gap int64) []int64 {
	var out []int64
	width := int64(rollup.Width / time.Microsecond)
	for _, t := range times {
		for h := rollup.HourOf(t - gap); h <= rollup.HourOf(t+gap); h += width {
			if n := len(out); n == 0 || out[n-1] != h {
				out = append(out, h)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// PendingRuns splits one device's pending hours (unix microseconds,
// ascending) into runs of consecutive hours, each [from, to): one read of
// readings computes a run.
func PendingRuns(hours []int64) [][2]int64 {
	width := int64(rollup.Width / time.Microsecond)
	var runs [][2]int64
	for _, h := range hours {
		if n := len(runs); n > 0 && runs[n-1][1] == h {
			runs[n-1][1] = h + width
			continue
		}
		runs = append(runs, [2]int64{h, h + width})
	}
	return runs
}

// ReplacePending returns stored (materialized rows, possibly stale where
// pending) with every pending hour's row replaced by what computed holds
// for it (absent when it holds nothing): by device in the order of
// devices, then hour.
func ReplacePending(devices []string, stored []rollup.Row, pending map[string][]int64, computed []rollup.Row) []rollup.Row {
	if len(pending) == 0 {
		return stored
	}
	isPending := func(r rollup.Row) bool {
		_, found := slices.BinarySearch(pending[r.DeviceID], r.Hour.UnixMicro())
		return found
	}
	out := slices.DeleteFunc(slices.Clone(stored), isPending)
	for _, r := range computed {
		if isPending(r) {
			out = append(out, r)
		}
	}
	rank := make(map[string]int, len(devices))
	for i, d := range devices {
		if _, ok := rank[d]; !ok {
			rank[d] = i
		}
	}
	slices.SortStableFunc(out, func(a, b rollup.Row) int {
		if a.DeviceID != b.DeviceID {
			if ra, rb := rank[a.DeviceID], rank[b.DeviceID]; ra != rb {
				return ra - rb
			}
			return strings.Compare(a.DeviceID, b.DeviceID)
		}
		return a.Hour.Compare(b.Hour)
	})
	return out
}

// EnergyOf is rows' energy columns.
func EnergyOf(rows []rollup.Row) []HourEnergy {
	out := make([]HourEnergy, 0, len(rows))
	for _, r := range rows {
		out = append(out, HourEnergy{Hour: r.Hour, Wh: r.EnergyWh, CoveredS: r.CoveredS})
	}
	return out
}

// PendingHours is, per device, the marked hours of roll-ups to compute
// (unix microseconds, ascending), as the backends' materializers and
// reads collect them.
type PendingHours map[string][]int64

// Devices are p's devices in id order, the order rows are locked in.
func (p PendingHours) Devices() []string {
	ids := make([]string, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
