package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
)

// RawSeries is a backend's aggregation of readings themselves.
type RawSeries func(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error)

// SeriesReads are a backend's reads of one device's readings in [From,
// To) of a SeriesQuery, from which Series aggregates them.
type SeriesReads struct {
	Name     string                                     // starts every error: "postgres", "sqlite"
	MapError func(ctx context.Context, err error) error // as MapError says
	// Compacted reads the readings in compacted blocks.
	Compacted func(ctx context.Context, q SeriesQuery) ([]thermowatt.Stored, error)
	// Rows reads the readings still in rows, oldest first.
	Rows func(ctx context.Context, q SeriesQuery) ([]rollup.Sample, error)
	// Aggregate aggregates the rows of a range none of whose readings is
	// compacted, the backend's fastest way.
	Aggregate RawSeries
}

// Series answers q: whole hours from rollups (SeriesFromRollups), the
// rest from the readings themselves (RawSeries).
func (r SeriesReads) Series(ctx context.Context, q SeriesQuery, rollups Rollups) ([]SeriesPoint, error) {
	return SeriesFromRollups(ctx, q, r.RawSeries, rollups)
}

// RawSeries aggregates the readings themselves. Where some of the range is
// compacted, the rows and the blocks' readings are merged in time order
// and folded into buckets here (SeriesOfSamples); where none is, the
// backend aggregates its rows (Aggregate).
func (r SeriesReads) RawSeries(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	out, err := r.rawSeries(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: series: %w", r.Name, r.MapError(ctx, err))
	}
	return out, nil
}

func (r SeriesReads) rawSeries(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	if q.Bucket < time.Microsecond {
		return nil, fmt.Errorf("bucket must be at least 1µs, got %v", q.Bucket)
	}
	compacted, err := r.Compacted(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(compacted) == 0 {
		return r.Aggregate(ctx, q)
	}
	rows, err := r.Rows(ctx, q)
	if err != nil {
		return nil, err
	}
	return SeriesOfSamples(MergeSamples(rows, SamplesOf(compacted)), q.Bucket.Microseconds()), nil
}

// SeriesFromRollups answers q from the hourly roll-ups where its buckets
// are whole hours: the whole hours of [From, To) come from rollups, the
// partial hours at either end from raw, merged per bucket. A 30-day chart
// then reads 720 summaries instead of 8,640 readings (a year of daily
// energy 8,760 instead of 105,120). Narrower buckets, and ranges without a
// whole hour, are raw's. Both give the same answer (storetest checks it):
// counts, minima and maxima exactly, averages to the rounding of a sum
// taken in another order.
func SeriesFromRollups(ctx context.Context, q SeriesQuery, raw RawSeries, rollups Rollups) ([]SeriesPoint, error) {
	if q.Bucket < rollup.Width || q.Bucket%rollup.Width != 0 {
		return raw(ctx, q)
	}
	from, to := UTC(q.From), UTC(q.To)
	first := from.Truncate(rollup.Width)
	if first.Before(from) {
		first = first.Add(rollup.Width)
	}
	last := to.Truncate(rollup.Width)
	if !first.Before(last) {
		return raw(ctx, q)
	}
	merged := map[int64]*SeriesPoint{}
	var order []int64
	add := func(p SeriesPoint) {
		k := p.Time.UnixMicro()
		m := merged[k]
		if m == nil {
			merged[k] = &p
			order = append(order, k)
			return
		}
		mergePoint(m, p)
	}
	for _, part := range [][2]time.Time{{from, first}, {last, to}} {
		if !part[0].Before(part[1]) {
			continue
		}
		pts, err := raw(ctx, SeriesQuery{DeviceID: q.DeviceID, From: part[0], To: part[1], Bucket: q.Bucket})
		if err != nil {
			return nil, err
		}
		for _, p := range pts {
			add(p)
		}
	}
	hours, err := rollups.RollupHours(ctx, RollupQuery{DeviceIDs: []string{q.DeviceID}, From: first, To: last})
	if err != nil {
		return nil, err
	}
	for _, h := range hours {
		if h.Count > 0 {
			add(hourPoint(h, BucketStart(h.Hour, q.Bucket)))
		}
	}
	out := make([]SeriesPoint, 0, len(order))
	for _, k := range sortedKeys(order) {
		out = append(out, *merged[k])
	}
	return out, nil
}

// hourPoint is one roll-up as a bucket starting at start.
func hourPoint(h rollup.Row, start time.Time) SeriesPoint {
	p := SeriesPoint{Time: start, Count: h.Count}
	for m, a := range h.Metrics {
		p.Stats[m] = StatsOf(a)
	}
	return p
}

// StatsOf is what a bucket answers for one field summarised by a.
func StatsOf(a rollup.Agg) Stats {
	if a.N == 0 {
		return Stats{}
	}
	avg, lo, hi := a.Mean, a.Min, a.Max
	return Stats{Avg: &avg, Min: &lo, Max: &hi, N: a.N}
}

// mergePoint adds b's readings to a (the same bucket).
func mergePoint(a *SeriesPoint, b SeriesPoint) {
	a.Count += b.Count
	for m := range a.Stats {
		a.Stats[m].merge(b.Stats[m])
	}
}

func (s *Stats) merge(o Stats) {
	if o.N == 0 {
		return
	}
	if s.N == 0 {
		*s = o
		return
	}
	// rollup.Agg's merge: weighted means, which cannot overflow.
	a := rollup.Agg{Mean: *s.Avg, N: s.N, Min: *s.Min, Max: *s.Max}
	a.Merge(rollup.Agg{Mean: *o.Avg, N: o.N, Min: *o.Min, Max: *o.Max})
	*s = StatsOf(a)
}

func sortedKeys(keys []int64) []int64 {
	out := append([]int64(nil), keys...)
	slices.Sort(out)
	return out
}
