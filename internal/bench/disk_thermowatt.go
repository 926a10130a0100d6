package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/bench/sensordata"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// diskThermowatt runs bin/thermowatt serve on backend ("postgres": a
// scratch database beside BENCH_DATABASE_URL; "sqlite": a data folder of
// its own), loads the set through POST /api/measurements with device
// tokens, lets it settle, measures the disk and the reads through the API
// with a reader token.
func diskThermowatt(ctx context.Context, cfg diskConfig, s *diskSet, backend string, logf func(string, ...any)) (*diskResult, error) {
	name := map[string]string{"postgres": "thermowatt PostgreSQL", "sqlite": "thermowatt SQLite"}[backend]
	logf("== %s", name)
	logPath := filepath.Join(os.TempDir(), "thermowatt-bench-disk-"+backend+".log")
	extra := append([]string(nil), cfg.ServeEnv...)
	if cfg.CurrentWeek {
		// The rows' own cost: nothing compacted (bench-rolling measures
		// the current week as compaction keeps it).
		extra = append([]string{"COMPACTION_AGE=168h"}, extra...)
	}
	var size func(ctx context.Context) (int64, string, error)
	switch backend {
	case "postgres":
		dbURL, drop, err := createScratchDatabase(ctx, cfg.DatabaseURL, "disk")
		if err != nil {
			return nil, err
		}
		defer drop()
		logf("PostgreSQL: %s; scratch database %s, dropped at the end", pgSettings(ctx, dbURL), dbName(dbURL))
		extra = append(extra, "DATABASE_URL="+dbURL)
		var base int64
		size = func(ctx context.Context) (int64, string, error) {
			return pgDiskSize(ctx, dbURL, base, logf)
		}
		// The empty database's size once serve has migrated it is
		// subtracted: the catalog is not what the readings cost.
		srv, err := startServer(ctx, cfg.Binary, logPath, extra...)
		if err != nil {
			return nil, err
		}
		if base, _, err = pgDiskSize(ctx, dbURL, 0, nil); err != nil {
			srv.stop()
			return nil, err
		}
		logf("  the migrated, empty database: %s (subtracted)", mb(base))
		return diskThermowattRun(ctx, cfg, s, name, srv, logPath, size, logf)
	default:
		dir, err := os.MkdirTemp(cfg.Dir, "thermowatt-disk-sqlite-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		extra = append(extra, "DATA_DIR="+dir)
		srv, err := startServer(ctx, cfg.Binary, logPath, extra...)
		if err != nil {
			return nil, err
		}
		base := dirSize(dir)
		logf("SQLite in %s; the migrated, empty files: %s (subtracted)", dir, mb(base))
		size = func(ctx context.Context) (int64, string, error) {
			var files []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if info, err := e.Info(); err == nil {
					files = append(files, fmt.Sprintf("%s %s", e.Name(), mb(info.Size())))
				}
			}
			return dirSize(dir) - base, "the data folder, WAL included: " + strings.Join(files, ", "), nil
		}
		return diskThermowattRun(ctx, cfg, s, name, srv, logPath, size, logf)
	}
}

func diskThermowattRun(ctx context.Context, cfg diskConfig, s *diskSet, name string, srv *server, logPath string,
	size func(ctx context.Context) (int64, string, error), logf func(string, ...any)) (*diskResult, error) {
	defer srv.stop()
	logf("  serve at %s (log %s)%s", srv.URL, logPath, map[bool]string{true: ", with DISK_SERVE_ENV " + strings.Join(cfg.ServeEnv, " ")}[len(cfg.ServeEnv) > 0])
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	a := api{url: srv.URL, c: client}
	tokens, err := a.devices(ctx, s.ids())
	if err != nil {
		return nil, err
	}
	r := &diskResult{System: name, Readings: s.n()}
	logf("  loading by POST /api/measurements, %d readings of one device per request (a JSON array, as the firmware's batches), %d loaders ...", cfg.Batch, cfg.Loaders)
	bufs := make(chan []byte, cfg.Loaders)
	for range cfg.Loaders {
		bufs <- nil
	}
	r.Load, err = s.batches(ctx, cfg.Batch, cfg.Loaders, func(ctx context.Context, d int, rs []sensordata.Reading) error {
		buf := (<-bufs)[:0]
		defer func() { bufs <- buf }()
		buf = append(buf, '[')
		for i := range rs {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = sensordata.AppendWire(buf, &rs[i])
		}
		buf = append(buf, ']')
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/measurements", bytes.NewReader(buf))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tokens[d])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST /api/measurements: %s %.300s", resp.Status, body)
		}
		var res wire.Result
		if err := json.Unmarshal(body, &res); err != nil || res.Accepted+res.Duplicates != len(rs) {
			return fmt.Errorf("POST /api/measurements: not all %d readings stored: %.300s", len(rs), body)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	logf("  loaded %s readings in %s: %.0f readings/s", thousands(int64(s.n())), dur(r.Load), float64(s.n())/r.Load.Seconds())
	if b, _, err := size(ctx); err == nil {
		logf("  disk right after the load: %s", mb(b))
	}
	logf("  settling %s ...", cfg.Settle)
	if err := settle(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	if r.Bytes, r.What, err = size(ctx); err != nil {
		return nil, err
	}
	logf("  disk after settling: %s (%s)", mb(r.Bytes), r.What)

	if cfg.CurrentWeek {
		return r, nil // readings of the current week: disk only
	}
	reader, err := a.readerToken(ctx)
	if err != nil {
		return nil, err
	}
	get := func(ctx context.Context, path string, v url.Values, count string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path+"?"+v.Encode(), nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+reader)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s %.300s", path, resp.Status, body)
		}
		return bytes.Count(body, []byte(count)), nil
	}
	logf("  reads through the API with a reader token, one at a time, each of a random device and window (the same for every system)")
	err = measureReads(ctx, s, cfg.Queries, r, logf, [numReads]func(context.Context, diskQuery) (int, error){
		func(ctx context.Context, q diskQuery) (int, error) {
			return get(ctx, "/api/measurements", url.Values{"deviceId": {q.device}, "from": {q.end.Add(-24 * time.Hour).Format(time.RFC3339)},
				"to": {q.end.Add(-time.Second).Format(time.RFC3339)}, "limit": {"300"}}, `"recordedAt"`)
		},
		func(ctx context.Context, q diskQuery) (int, error) {
			return get(ctx, "/api/measurements/series", url.Values{"deviceId": {q.device}, "from": {q.end.Add(-30 * 24 * time.Hour).Format(time.RFC3339)},
				"to": {q.end.Format(time.RFC3339)}, "bucket": {"1h"}}, `"count"`)
		},
	})
	return r, err
}

// createScratchDatabase makes an empty database named after base's own
// (so that a run on a shared server stays within its user's names) with
// the suffix and the time, and returns its URL and how to drop it.
func createScratchDatabase(ctx context.Context, base, suffix string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to BENCH_DATABASE_URL: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	if prefix == "" || prefix == "postgres" {
		prefix = "thermowatt_bench"
	}
	name := pgx.Identifier{fmt.Sprintf("%s_%s_%d", prefix, suffix, time.Now().Unix())}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u.Path = "/" + strings.Trim(name, `"`)
	drop := func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}
	return u.String(), drop, nil
}

// pgDiskSize VACUUMs (ANALYZE) every table, as autovacuum would have by
// then (the shared server may run with it off), and returns the
// database's size less base, with the largest relations named.
func pgDiskSize(ctx context.Context, dbURL string, base int64, logf func(string, ...any)) (int64, string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close(context.Background())
	if logf != nil {
		t0 := time.Now()
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
			return 0, "", err
		}
		logf("  VACUUM (ANALYZE) of the database: %s", dur(time.Since(t0)))
	}
	var total int64
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&total); err != nil {
		return 0, "", err
	}
	rows, err := conn.Query(ctx, `SELECT c.relname, pg_total_relation_size(c.oid) AS b FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'm')
		ORDER BY b DESC LIMIT 10`)
	if err != nil {
		return 0, "", err
	}
	var parts []string
	for rows.Next() {
		var name string
		var b int64
		if err := rows.Scan(&name, &b); err != nil {
			return 0, "", err
		}
		if b > 256<<10 {
			parts = append(parts, fmt.Sprintf("%s %s", name, mb(b)))
		}
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	// The readings' rows split: table (with TOAST) and indexes, over
	// every partition, and the payload's share.
	var heap, indexes, payload, nrows int64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(pg_table_size(inhrelid)), 0), coalesce(sum(pg_indexes_size(inhrelid)), 0),
		(SELECT coalesce(sum(pg_column_size(payload)), 0) FROM device_measurements), (SELECT count(*) FROM device_measurements)
		FROM pg_inherits WHERE inhparent = 'device_measurements'::regclass`).Scan(&heap, &indexes, &payload, &nrows)
	if err != nil {
		return 0, "", err
	}
	if nrows > 0 {
		parts = append(parts, fmt.Sprintf("(the %d rows of readings: table %.0f bytes a row, of which payload %.0f; indexes %.0f)",
			nrows, float64(heap)/float64(nrows), float64(payload)/float64(nrows), float64(indexes)/float64(nrows)))
	}
	return total - base, "pg_database_size after VACUUM, less the empty database (WAL not counted); largest tables with their indexes and TOAST: " + strings.Join(parts, ", "), nil
}
