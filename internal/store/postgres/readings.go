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
	err := s.withRetry(ctx, func() (err error) {
		out, err = s.queryReadings(ctx, s.pool, sql, args...)
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

// queryReadings runs sql, a selectReadings, on q and returns its
// readings with their payloads as sent: a row's shape (payload_shapes.go)
// read, and the members its columns hold put back.
func (s *Store) queryReadings(ctx context.Context, q querier, sql string, args ...any) ([]thermowatt.Stored, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	scanned, err := pgx.CollectRows(rows, scanReading)
	if err != nil {
		return nil, err
	}
	var shapes []int32
	for _, r := range scanned {
		if r.shape != nil {
			shapes = append(shapes, *r.shape)
		}
	}
	var bodies map[int32][]byte
	if len(shapes) > 0 {
		if bodies, err = s.shapes.body(ctx, q, shapes); err != nil {
			return nil, err
		}
	}
	out := make([]thermowatt.Stored, len(scanned))
	for i, r := range scanned {
		payload := r.payload
		if r.shape != nil {
			payload = bodies[*r.shape]
		}
		if payload != nil {
			r.Payload = store.UnfoldPayload(payload, store.Fold(r.fold), store.Columns{
				Temperature: r.Temperature, VoltageV: r.VoltageV, CurrentMA: r.CurrentMA, PowerMW: r.PowerMW, PressureHPa: r.pressure})
		}
		out[i] = r.Stored
	}
	return out, nil
}

// scannedReading is a row of selectReadings as stored: its payload still
// folded, or named by its shape.
type scannedReading struct {
	thermowatt.Stored
	pressure *float64
	fold     int16
	shape    *int32
	payload  []byte
}

func scanReading(row pgx.CollectableRow) (scannedReading, error) {
	var r scannedReading
	err := row.Scan(&r.ID, &r.DeviceID, &r.RecordedAt, &r.ReceivedAt, &r.ServerTime,
		&r.Temperature, &r.Humidity, &r.VoltageV, &r.CurrentMA, &r.PowerMW, &r.pressure, &r.fold, &r.shape, &r.payload)
	r.RecordedAt = r.RecordedAt.UTC()
	r.ReceivedAt = r.ReceivedAt.UTC()
	return r, err
}
