package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// seriesQuery groups one device's rows by epoch-aligned bucket with
// date_bin (PostgreSQL 14+), which works on the absolute instant, so the
// session's time zone does not move buckets.
//
// It reads one device's range of the primary key (device_id, recorded_at)
// and those rows from the table: at most two partial hours of a chart,
// the roll-ups holding the rest (migration 00013 says why the key no
// longer carries the metrics). pressure_hpa is payload.sensor.bmp280.
// pressure_hpa when that is a number, filled at insert.
var (
	seriesQuery = seriesSQL("avg(%[1]s)")
	// seriesQueryWide is seriesQuery for the buckets whose float sums
	// overflow (PostgreSQL raises 22003 rather than answer infinity; avg
	// of float8 also sums squares, which overflow from about 1e154):
	// each value is scaled by 2^-64 before it is summed, and the mean
	// scaled back. A power of two scales
	// exactly, so the mean is the same to the last bit (but for values
	// below 1e-288), and no sum of fewer than 2^64 values can overflow.
	// Only stored values at the edge of float64 ever need it.
	seriesQueryWide = seriesSQL("sum(%[1]s * 0.5::float8 ^ 64) / count(%[1]s) * 2::float8 ^ 64")
)

func seriesSQL(avg string) string {
	var cols []string
	for _, m := range rollup.Names {
		cols = append(cols, fmt.Sprintf(avg+", min(%[1]s), max(%[1]s), count(%[1]s)", m))
	}
	return `
SELECT date_bin($1::bigint * interval '1 microsecond', recorded_at, timestamptz '1970-01-01 00:00:00+00') AS bucket,
	count(*),
	` + strings.Join(cols, ",\n\t") + `
FROM device_measurements
WHERE device_id = $2 AND recorded_at >= $3 AND recorded_at < $4
GROUP BY bucket
ORDER BY bucket`
}

// Series aggregates readings into buckets; see store.Store and
// store.SeriesReads.
func (s *Store) Series(ctx context.Context, q store.SeriesQuery) ([]store.SeriesPoint, error) {
	reads := store.SeriesReads{Name: "postgres", MapError: mapError, Compacted: s.compactedSeries, Rows: s.seriesRows, Aggregate: s.aggregateSeries}
	return reads.Series(ctx, q, s)
}

// aggregateSeries aggregates the rows in SQL (seriesQuery).
func (s *Store) aggregateSeries(ctx context.Context, q store.SeriesQuery) ([]store.SeriesPoint, error) {
	out, err := s.seriesWith(ctx, seriesQuery, q)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "22003" { // numeric_value_out_of_range
		out, err = s.seriesWith(ctx, seriesQueryWide, q)
	}
	return out, err
}

func (s *Store) seriesWith(ctx context.Context, sql string, q store.SeriesQuery) ([]store.SeriesPoint, error) {
	rows, err := s.pool.Query(ctx, sql, q.Bucket.Microseconds(), q.DeviceID, store.UTC(q.From), store.UTC(q.To))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SeriesPoint, error) {
		var p store.SeriesPoint
		dst := []any{&p.Time, &p.Count}
		for m := range p.Stats {
			st := &p.Stats[m]
			dst = append(dst, &st.Avg, &st.Min, &st.Max, &st.N)
		}
		err := row.Scan(dst...)
		p.Time = p.Time.UTC()
		return p, err
	})
}

func (s *Store) compactedSeries(ctx context.Context, q store.SeriesQuery) ([]thermowatt.Stored, error) {
	return blockReadings(ctx, s.pool, q.DeviceID, store.UTC(q.From), store.UTC(q.To))
}

func (s *Store) seriesRows(ctx context.Context, q store.SeriesQuery) ([]rollup.Sample, error) {
	rows, err := s.pool.Query(ctx, sampleQuery, q.DeviceID, store.UTC(q.From), store.UTC(q.To))
	if err != nil {
		return nil, err
	}
	samples, err := scanSamples(rows)
	// sampleQuery's bound is inclusive; Series' is not.
	for len(samples) > 0 && samples[len(samples)-1].At >= q.To.UnixMicro() {
		samples = samples[:len(samples)-1]
	}
	return samples, err
}
