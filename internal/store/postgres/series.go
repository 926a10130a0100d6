package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/store"
)

// seriesQuery groups one device's rows by epoch-aligned bucket with
// date_bin (PostgreSQL 14+), which works on the absolute instant, so the
// session's time zone does not move buckets.
//
// Every column it reads is in the primary key (device_id, recorded_at)
// INCLUDE (...) (migration 00003), so the rows come from an index-only scan
// of one device's adjacent index entries rather than from one heap page
// per reading. pressure_hpa is payload.sensor.bmp280.pressure_hpa when that
// is a number, filled at insert.
const seriesQuery = `
SELECT date_bin($1::bigint * interval '1 microsecond', recorded_at, timestamptz '1970-01-01 00:00:00+00') AS bucket,
	count(*),
	avg(temperature), min(temperature), max(temperature), count(temperature),
	avg(humidity), min(humidity), max(humidity), count(humidity),
	avg(voltage_v), min(voltage_v), max(voltage_v), count(voltage_v),
	avg(current_ma), min(current_ma), max(current_ma), count(current_ma),
	avg(power_mw), min(power_mw), max(power_mw), count(power_mw),
	avg(pressure_hpa), min(pressure_hpa), max(pressure_hpa), count(pressure_hpa)
FROM device_measurements
WHERE device_id = $2 AND recorded_at >= $3 AND recorded_at < $4
GROUP BY bucket
ORDER BY bucket`

// Series aggregates readings into buckets; see store.Store. Whole hours
// come from the roll-ups (store.SeriesFromRollups).
func (s *Store) Series(ctx context.Context, q store.SeriesQuery) ([]store.SeriesPoint, error) {
	return store.SeriesFromRollups(ctx, q, s.rawSeries, s)
}

// rawSeries aggregates the readings themselves.
func (s *Store) rawSeries(ctx context.Context, q store.SeriesQuery) ([]store.SeriesPoint, error) {
	if q.Bucket < time.Microsecond {
		return nil, fmt.Errorf("postgres: series: bucket must be at least 1µs, got %v", q.Bucket)
	}
	rows, err := s.pool.Query(ctx, seriesQuery,
		q.Bucket.Microseconds(), q.DeviceID, store.UTC(q.From), store.UTC(q.To))
	if err != nil {
		return nil, fmt.Errorf("postgres: series: %w", mapError(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SeriesPoint, error) {
		var p store.SeriesPoint
		err := row.Scan(&p.Time, &p.Count,
			&p.Temperature.Avg, &p.Temperature.Min, &p.Temperature.Max, &p.Temperature.N,
			&p.Humidity.Avg, &p.Humidity.Min, &p.Humidity.Max, &p.Humidity.N,
			&p.VoltageV.Avg, &p.VoltageV.Min, &p.VoltageV.Max, &p.VoltageV.N,
			&p.CurrentMA.Avg, &p.CurrentMA.Min, &p.CurrentMA.Max, &p.CurrentMA.N,
			&p.PowerMW.Avg, &p.PowerMW.Min, &p.PowerMW.Max, &p.PowerMW.N,
			&p.PressureHPa.Avg, &p.PressureHPa.Min, &p.PressureHPa.Max, &p.PressureHPa.N)
		p.Time = p.Time.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: series: %w", mapError(ctx, err))
	}
	return out, nil
}
