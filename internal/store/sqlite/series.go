package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// seriesQuery groups one device's rows by epoch-aligned bucket. The rows
// come from the (device_id, recorded_at) index range; recorded_at is
// INTEGER microseconds, so a bucket is plain integer arithmetic. Integer
// division truncates toward zero, so times before 1970 would share a bucket
// with the one after: the ingest path accepts no such times.
//
// Pressure is read from the JSON payload only when it is a number, so a
// device that sends a string there does not break the chart of the others.
const seriesQuery = `
SELECT (recorded_at / ?1) * ?1 AS bucket, count(*),
	avg(temperature), min(temperature), max(temperature),
	avg(humidity), min(humidity), max(humidity),
	avg(voltage_v), min(voltage_v), max(voltage_v),
	avg(current_ma), min(current_ma), max(current_ma),
	avg(power_mw), min(power_mw), max(power_mw),
	avg(pressure), min(pressure), max(pressure)
FROM (
	SELECT recorded_at, temperature, humidity, voltage_v, current_ma, power_mw,
		CASE WHEN json_type(payload, '$.sensor.bmp280.pressure_hpa') IN ('integer', 'real')
			THEN json_extract(payload, '$.sensor.bmp280.pressure_hpa') END AS pressure
	FROM device_measurements
	WHERE device_id = ?2 AND recorded_at >= ?3 AND recorded_at < ?4
)
GROUP BY bucket
ORDER BY bucket`

// Series aggregates readings into buckets; see store.Store.
func (s *Store) Series(ctx context.Context, q store.SeriesQuery) ([]store.SeriesPoint, error) {
	if q.Bucket < time.Microsecond {
		return nil, fmt.Errorf("sqlite: series: bucket must be at least 1µs, got %v", q.Bucket)
	}
	rows, err := s.read.QueryContext(ctx, seriesQuery,
		q.Bucket.Microseconds(), q.DeviceID, micros(q.From), micros(q.To))
	if err != nil {
		return nil, fmt.Errorf("sqlite: series: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var out []store.SeriesPoint
	for rows.Next() {
		var (
			p      store.SeriesPoint
			bucket int64
		)
		err := rows.Scan(&bucket, &p.Count,
			&p.Temperature.Avg, &p.Temperature.Min, &p.Temperature.Max,
			&p.Humidity.Avg, &p.Humidity.Min, &p.Humidity.Max,
			&p.VoltageV.Avg, &p.VoltageV.Min, &p.VoltageV.Max,
			&p.CurrentMA.Avg, &p.CurrentMA.Min, &p.CurrentMA.Max,
			&p.PowerMW.Avg, &p.PowerMW.Min, &p.PowerMW.Max,
			&p.PressureHPa.Avg, &p.PressureHPa.Min, &p.PressureHPa.Max)
		if err != nil {
			return nil, fmt.Errorf("sqlite: series: %w", mapError(ctx, err))
		}
		p.Time = fromMicros(bucket)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: series: %w", mapError(ctx, err))
	}
	return out, nil
}
