package bench

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// createDatabase makes a throwaway database next to base and returns its
// URL and a function that drops it.
func createDatabase(ctx context.Context, base string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to BENCH_DATABASE_URL: %w", err)
	}
	name := fmt.Sprintf("thermowatt_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}
	return u.String(), drop, nil
}

var copyColumns = []string{"device_id", "recorded_at", "received_at", "server_time",
	"temperature", "humidity", "voltage_v", "current_ma", "power_mw", "payload"}

// copyRows bulk-loads h into table with pgx CopyFrom and returns how long
// it took.
func copyRows(ctx context.Context, conn *pgx.Conn, table string, h *history) (time.Duration, error) {
	now := time.Now()
	var r row
	values := make([]any, len(copyColumns))
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if !h.next(&r) {
			return nil, nil
		}
		values[0], values[1], values[2], values[3] = r.DeviceID, r.RecordedAt, now, false
		values[4], values[5], values[6], values[7], values[8] = r.Temp, nil, r.V, r.MA, r.MW
		values[9] = r.Payload
		return values, nil
	})
	start := time.Now()
	_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, copyColumns, src)
	return time.Since(start), err
}

// pgRegister adds h's devices, which readings reference, and their state
// rows (migration 00015), without which the fleet's lists leave a device out.
func pgRegister(ctx context.Context, conn *pgx.Conn, h *history) error {
	_, err := conn.Exec(ctx, `
		WITH d AS (INSERT INTO devices (id, created_at) SELECT unnest($1::text[]), now() ON CONFLICT DO NOTHING)
		INSERT INTO device_state (device_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, h.ids)
	return err
}

// pgCopyCeiling loads n readings into a table identical to
// device_measurements (same columns, indexes and unique key) with COPY:
// the fastest way PostgreSQL takes rows, the ceiling for batch ingest.
func pgCopyCeiling(ctx context.Context, dbURL string, devices, n int) (float64, error) {
	return pgCopyCeilingOf(ctx, dbURL, ceilingHistory(devices, n))
}

// pgCopyCeilingOf is pgCopyCeiling of the readings h yields.
func pgCopyCeilingOf(ctx context.Context, dbURL string, h *history) (float64, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE copy_ceiling (LIKE device_measurements INCLUDING ALL)`); err != nil {
		return 0, err
	}
	defer conn.Exec(ctx, `DROP TABLE copy_ceiling`)
	d, err := copyRows(ctx, conn, "copy_ceiling", h)
	if err != nil {
		return 0, fmt.Errorf("CopyFrom ceiling: %w", err)
	}
	return float64(h.n) / d.Seconds(), nil
}

// pgFill loads the query phase's history straight into device_measurements
// and refreshes the planner's statistics, as autovacuum would after a load.
func pgFill(ctx context.Context, dbURL string, h *history) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	start := time.Now()
	if err := pgRegister(ctx, conn, h); err != nil {
		return 0, err
	}
	// The rows are known to reference registered devices, so the
	// foreign-key trigger (10 M checks queued until the end of the COPY)
	// is skipped. That needs a superuser; without one the load is slower.
	_, _ = conn.Exec(ctx, `SET session_replication_role = replica`)
	if _, err := copyRows(ctx, conn, "device_measurements", h); err != nil {
		return 0, fmt.Errorf("loading %d readings: %w", h.n, err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE device_measurements`); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
