package store

import (
	"slices"
	"time"

	"github.com/thermowatt/thermowatt/internal/rollup"
)

// Roll-ups of compacted days are not stored: a compacted day's hours are
// computed from its block whenever they are read, as pending hours are
// (the "real-time aggregate" of rollups_pending.go), and the compaction of
// a day deletes its materialized hours. A day's 24 hourly rows took 30
// bytes a reading on PostgreSQL, three times the block that holds the
// readings themselves; computing them back costs decoding the block (about
// half a microsecond of CPU a reading: a 30-day chart decodes 8,640
// readings in a few milliseconds). Everything that reads roll-ups treats
// the hours of a compacted day as pending (CompactedHours), and everything
// that writes them leaves those hours out (DropCompacted), so the answers
// are those of the uncompacted store: a backfill into a compacted day, an
// interval change and retention included.

// DayMicros is the length of a block's day in microseconds.
const DayMicros = int64(BlockDay / time.Microsecond)

// CompactedHours adds to pending (per device, hours in unix microseconds,
// ascending) every hour in [from, to) of the compacted days of each device
// (days: per device, the start of each of its compacted days, unix
// microseconds), and returns it, still ascending and without repeats.
func CompactedHours(pending map[string][]int64, days map[string][]int64, from, to int64) map[string][]int64 {
	if len(days) == 0 {
		return pending
	}
	if pending == nil {
		pending = map[string][]int64{}
	}
	width := int64(rollup.Width / time.Microsecond)
	for id, starts := range days {
		hours := pending[id]
		for _, d := range starts {
			for h := max(d, rollup.HourOf(from)); h < d+DayMicros && h < to; h += width {
				if h >= from {
					hours = append(hours, h)
				}
			}
		}
		slices.Sort(hours)
		pending[id] = slices.Compact(hours)
	}
	return pending
}

// DropCompacted returns rows (computed hours about to be stored) without
// the hours of compacted days: those are computed from the blocks when
// read, never stored. compactedDays reads, per device of devices (sorted,
// without repeats), the starts of its compacted days that hold hours in
// [from, to) (unix microseconds), ascending, as CompactedHours takes them;
// it is not called when rows is empty.
func DropCompacted(rows []rollup.Row, compactedDays func(devices []string, from, to int64) (map[string][]int64, error)) ([]rollup.Row, error) {
	if len(rows) == 0 {
		return rows, nil
	}
	days, err := compactedDays(hourSpan(rows))
	if err != nil || len(days) == 0 {
		return rows, err
	}
	return slices.DeleteFunc(rows, func(r rollup.Row) bool {
		h := r.Hour.UnixMicro()
		d := h - h%DayMicros
		if h%DayMicros < 0 {
			d -= DayMicros
		}
		_, found := slices.BinarySearch(days[r.DeviceID], d)
		return found
	}), nil
}

// hourSpan returns the devices of rows (sorted, without repeats) and the
// span of their hours [from, to), unix microseconds.
func hourSpan(rows []rollup.Row) (devices []string, from, to int64) {
	width := int64(rollup.Width / time.Microsecond)
	for i, r := range rows {
		h := r.Hour.UnixMicro()
		if i == 0 || h < from {
			from = h
		}
		if i == 0 || h+width > to {
			to = h + width
		}
		devices = append(devices, r.DeviceID)
	}
	slices.Sort(devices)
	return slices.Compact(devices), from, to
}
