package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// selectReadings reads every column of readingColumns (ingest.go), in
// its order, after the id: scanReading's order.
var selectReadings = `
SELECT id, ` + readingColumnNames + `
FROM device_measurements`

// QueryReadings returns readings newest first; see store.Store.
func (s *Store) QueryReadings(ctx context.Context, q store.Query) ([]thermowatt.Stored, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("postgres: query readings: limit must be at least 1, got %d", q.Limit)
	}
	sql, args := readingsQuery(q)
	var out []thermowatt.Stored
	err := s.withRetry(ctx, func() error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanReading)
		return err
	})
	if err == nil {
		out, err = s.withBlocks(ctx, q, out)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: query readings: %w", mapError(ctx, err))
	}
	return out, nil
}

// readingsQuery returns the SQL and arguments for q (store.Query.PageSQL).
func readingsQuery(q store.Query) (string, []any) {
	return q.PageSQL(selectReadings, func(t time.Time) any { return store.UTC(t) })
}

func scanReading(row pgx.CollectableRow) (thermowatt.Stored, error) {
	var (
		r        thermowatt.Stored
		pressure *float64
		fold     int16
		payload  []byte
	)
	err := row.Scan(&r.ID, &r.DeviceID, &r.RecordedAt, &r.ReceivedAt, &r.ServerTime,
		&r.Temperature, &r.Humidity, &r.VoltageV, &r.CurrentMA, &r.PowerMW, &pressure, &fold, &payload)
	if err != nil {
		return r, err
	}
	r.RecordedAt = r.RecordedAt.UTC()
	r.ReceivedAt = r.ReceivedAt.UTC()
	if payload != nil {
		r.Payload = store.UnfoldPayload(payload, store.Fold(fold), store.Columns{
			Temperature: r.Temperature, VoltageV: r.VoltageV, CurrentMA: r.CurrentMA, PowerMW: r.PowerMW, PressureHPa: pressure})
	}
	return r, nil
}
