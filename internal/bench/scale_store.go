package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

// scaleReadings builds job j's readings as the API would hand them to
// the store: the power figures both as columns and in the payload.
func scaleReadings(s scaleSet, j scaleJob, buf []thermowatt.Reading) []thermowatt.Reading {
	buf = buf[:0]
	for k := j.from; k < j.to; k++ {
		temp, hum, v, ma, mw := scaleValues(j.device, k)
		p := make([]byte, 0, 64)
		p = append(p, `{"voltage_v":`...)
		p = strconv.AppendFloat(p, v, 'f', 2, 64)
		p = append(p, `,"current_ma":`...)
		p = strconv.AppendFloat(p, ma, 'f', 1, 64)
		p = append(p, `,"power_mw":`...)
		p = strconv.AppendFloat(p, mw, 'f', 1, 64)
		p = append(p, '}')
		buf = append(buf, thermowatt.Reading{DeviceID: s.ids[j.device], RecordedAt: s.at(k),
			Temperature: &temp, Humidity: &hum, VoltageV: &v, CurrentMA: &ma, PowerMW: &mw, Payload: json.RawMessage(p)})
	}
	return buf
}

// loadThroughStore loads s through InsertReadings, `batch` readings of
// one device per call, as the API's batch path does.
func loadThroughStore(ctx context.Context, cfg scaleConfig, st store.Readings, s scaleSet, name string, logf func(string, ...any)) (time.Duration, error) {
	bufs := make(chan []thermowatt.Reading, cfg.Loaders)
	for range cfg.Loaders {
		bufs <- make([]thermowatt.Reading, 0, cfg.Batch)
	}
	return runLoaders(ctx, s, cfg.Batch, cfg.Loaders, name, logf, func(ctx context.Context, j scaleJob) error {
		buf := <-bufs
		defer func() { bufs <- buf }()
		buf = scaleReadings(s, j, buf)
		res, err := st.InsertReadings(ctx, buf, time.Now())
		if err != nil {
			return err
		}
		if res.Accepted != len(buf) {
			return fmt.Errorf("%d of %d readings accepted", res.Accepted, len(buf))
		}
		return nil
	})
}

// storeCases are the three reads through the store's Go API, in-process,
// as `make bench` measures its "store alone" figures.
func storeCases(st store.Store, s scaleSet) [numCases]func(context.Context, string) (int, error) {
	end := s.end.Add(time.Second) // the newest reading included
	return [numCases]func(context.Context, string) (int, error){
		func(ctx context.Context, dev string) (int, error) {
			rs, err := st.QueryReadings(ctx, store.Query{DeviceID: dev, From: end.Add(-24 * time.Hour), To: end, Limit: 300})
			return len(rs), err
		},
		func(ctx context.Context, dev string) (int, error) {
			ps, err := st.Series(ctx, store.SeriesQuery{DeviceID: dev, From: end.Add(-30 * 24 * time.Hour), To: end, Bucket: time.Hour})
			return len(ps), err
		},
		func(ctx context.Context, dev string) (int, error) {
			ps, err := store.Energy(ctx, st, store.EnergyQuery{DeviceID: dev, From: s.end.Add(-365 * 24 * time.Hour), To: s.end, Bucket: store.EnergyDay})
			return len(ps), err
		},
	}
}

// yearWh is one device's energy over the year, from the store, to set
// beside InfluxDB's integral.
func yearWh(ctx context.Context, st store.Store, s scaleSet, dev string) (float64, error) {
	ps, err := store.Energy(ctx, st, store.EnergyQuery{DeviceID: dev, From: s.end.Add(-365 * 24 * time.Hour), To: s.end, Bucket: store.EnergyDay})
	var wh float64
	for _, p := range ps {
		wh += p.Wh
	}
	return wh, err
}

// removeMonth runs DeleteReadingsBefore(cutoff) until it removes nothing,
// or until limit has passed.
func removeMonth(ctx context.Context, st store.Retention, cutoff time.Time, batch int, limit time.Duration, want int64) (removal, error) {
	m := removal{Want: want}
	start := time.Now()
	for {
		n, err := st.DeleteReadingsBefore(ctx, cutoff, batch)
		m.Removed += n
		if err != nil {
			m.Took = time.Since(start)
			return m, err
		}
		if n == 0 {
			m.Complete = true
			break
		}
		if time.Since(start) > limit {
			break
		}
	}
	m.Took = time.Since(start)
	return m, nil
}

func scalePostgres(ctx context.Context, cfg scaleConfig, s scaleSet, logf func(string, ...any)) (*sysResult, error) {
	logf("== PostgreSQL: %d devices × %d readings, %s to %s", s.devices, s.perDevice, s.oldest().Format(time.RFC3339), s.end.Format(time.RFC3339))
	dbURL, drop, err := createDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer drop()
	logf("PostgreSQL: %s; scratch database %s, dropped at the end", pgSettings(ctx, dbURL), dbName(dbURL))
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())

	// The weekly partitions for the whole year, as serve makes those of
	// the weeks retention keeps.
	if err := st.PartitionHistory(ctx, s.oldest(), time.Now()); err != nil {
		return nil, err
	}
	parts, err := pgPartitions(ctx, conn)
	if err != nil {
		return nil, err
	}
	logf("partitions of device_measurements after PartitionHistory from %s: %d", s.oldest().Format("2006-01-02"), len(parts))
	for _, p := range parts {
		logf("  %s", p)
	}

	r := &sysResult{Readings: s.n()}
	logf("loading through store.InsertReadings, %d readings of one device per call (binary COPY from 100), roll-ups in the same transaction, %d loaders ...", cfg.Batch, cfg.Loaders)
	if r.Load, err = loadThroughStore(ctx, cfg, st, s, "postgres", logf); err != nil {
		return nil, err
	}
	logf("  loaded %d readings in %s: %.0f readings/s", s.n(), dur(r.Load), r.loadRate())
	t0 := time.Now()
	// What autovacuum does to a table some time after it was written: a
	// year of readings has long been vacuumed (visibility map set, so reads
	// are index-only) and no autovacuum is still running on it when
	// retention comes (dropping a partition would wait for it to yield).
	for _, table := range []string{"device_measurements", "hourly_rollups"} {
		if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) `+table); err != nil {
			return nil, err
		}
	}
	logf("  VACUUM (ANALYZE), as autovacuum would after the load; not in the rate: %s", dur(time.Since(t0)))
	var rollupRows int64
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('device_measurements') WHERE isleaf)::int8,
		pg_total_relation_size('hourly_rollups'), (SELECT count(*) FROM hourly_rollups)`).Scan(&r.Data, &r.Rollups, &rollupRows); err != nil {
		return nil, err
	}
	var heap, indexes int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(pg_table_size(relid)), 0)::int8, coalesce(sum(pg_indexes_size(relid)), 0)::int8
		FROM pg_partition_tree('device_measurements') WHERE isleaf`).Scan(&heap, &indexes); err != nil {
		return nil, err
	}
	logf("  disk after the load: readings (every partition) %s = table with TOAST %s + indexes %s; hourly_rollups %s (%d rows)",
		mb(r.Data), mb(heap), mb(indexes), mb(r.Rollups), rollupRows)
	parts, _ = pgPartitions(ctx, conn)
	for _, p := range parts {
		logf("  %s", p)
	}

	logf("queries through the store's Go API, in-process (as `make bench` measures its store-alone figures), %d per case, random device each", cfg.Queries)
	cutoff, err := readAndRemoveMonth(ctx, cfg, st, s, "postgres", r, logf,
		"drops whole weeks first, deletes the rest in batches, then trims the roll-ups")
	if err != nil {
		return nil, err
	}

	// The same number of readings by a plain DELETE: the next month, so
	// that both delete an equal month of the same table.
	cutoff2 := cutoff.Add(30 * 24 * time.Hour)
	want2 := int64((s.readingsBefore(cutoff2) - s.readingsBefore(cutoff)) * s.devices)
	logf("plain DELETE of the next month's readings [%s, %s), %d expected, then DELETE of those roll-up hours", cutoff.Format(time.RFC3339), cutoff2.Format(time.RFC3339), want2)
	t0 = time.Now()
	tag, err := conn.Exec(ctx, `DELETE FROM device_measurements WHERE recorded_at >= $1 AND recorded_at < $2`, cutoff, cutoff2)
	if err != nil {
		return nil, err
	}
	plain := removal{Name: "plain DELETE of the next month", Removed: tag.RowsAffected(), Took: time.Since(t0), Complete: true, Want: want2}
	t0 = time.Now()
	tag, err = conn.Exec(ctx, `DELETE FROM hourly_rollups WHERE hour >= $1 AND hour < $2`, cutoff.Truncate(time.Hour), cutoff2.Truncate(time.Hour))
	if err != nil {
		return nil, err
	}
	plain.Note = fmt.Sprintf("+ %s for its %s roll-up hours; device counts not kept", dur(time.Since(t0)), thousands(tag.RowsAffected()))
	logf("  %s", plain.cell())
	r.Removals = append(r.Removals, plain)

	var whole int
	for _, p := range parts {
		if p.upper != nil && !p.upper.After(cutoff) {
			whole++
		}
	}
	drops := removal{Name: "DROP of weekly partitions"}
	if whole == 0 {
		drops.Note = "none possible: no partition lies wholly before the cutoff (see the partition list)"
	} else {
		drops.Note = fmt.Sprintf("%d partitions, dropped inside the store's loop above", whole)
	}
	logf("  %s: %s", drops.Name, drops.Note)
	r.Removals = append(r.Removals, drops)
	return r, nil
}

type pgPartition struct {
	name         string
	lower, upper *time.Time
	rows         int64
	bytes        int64
}

func (p pgPartition) String() string {
	f := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return t.UTC().Format("2006-01-02")
	}
	return fmt.Sprintf("%s [%s, %s): ~%d rows, %s", p.name, f(p.lower, "MINVALUE"), f(p.upper, "—"), p.rows, mb(p.bytes))
}

// pgPartitions lists device_measurements' partitions with their bounds,
// the planner's row estimate and their size.
func pgPartitions(ctx context.Context, conn *pgx.Conn) ([]pgPartition, error) {
	rows, err := conn.Query(ctx, `
		SELECT name, lower, upper, greatest(c.reltuples, 0)::int8, pg_total_relation_size(relid)
		FROM `+postgres.PartitionBounds+` JOIN pg_class c ON c.oid = relid
		ORDER BY 3 NULLS LAST`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (pgPartition, error) {
		var p pgPartition
		err := row.Scan(&p.name, &p.lower, &p.upper, &p.rows, &p.bytes)
		return p, err
	})
}

func dbName(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "?"
	}
	return strings.TrimPrefix(u.Path, "/")
}

func scaleSQLite(ctx context.Context, cfg scaleConfig, s scaleSet, logf func(string, ...any)) (*sysResult, error) {
	logf("== SQLite: %d devices × %d readings, %s to %s", s.devices, s.perDevice, s.oldest().Format(time.RFC3339), s.end.Format(time.RFC3339))
	dir, err := cfg.tempDir("thermowatt-scale-sqlite-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "thermowatt.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	r := &sysResult{Readings: s.n()}
	logf("loading through store.InsertReadings into %s, %d readings of one device per call, %d loaders ...", path, cfg.Batch, cfg.Loaders)
	if r.Load, err = loadThroughStore(ctx, cfg, st, s, "sqlite", logf); err != nil {
		return nil, err
	}
	logf("  loaded %d readings in %s: %.0f readings/s", s.n(), dur(r.Load), r.loadRate())
	r.Data = fileSize(path) + fileSize(path+"-wal")
	r.DiskNote = "file + WAL, roll-ups inside"
	logf("  disk after the load: %s (file %s, WAL %s)", mb(r.Data), mb(fileSize(path)), mb(fileSize(path+"-wal")))
	if db, err := openSQLite(path); err == nil {
		var roll int64
		if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'hourly_rollups' OR name LIKE 'sqlite_autoindex_hourly_rollups%'`).Scan(&roll); err == nil {
			logf("  of which hourly_rollups (dbstat): %s", mb(roll))
			r.Data -= roll
			r.Rollups = roll
			r.DiskNote = "file + WAL less the roll-ups' pages"
		} else {
			logf("  hourly_rollups' share not measured: %v", err)
		}
		db.Close()
	}

	logf("queries through the store's Go API, in-process, %d per case, random device each", cfg.Queries)
	if _, err := readAndRemoveMonth(ctx, cfg, st, s, "sqlite", r, logf, "deletes in batches, trimming the roll-ups"); err != nil {
		return nil, err
	}
	return r, nil
}

// readAndRemoveMonth runs the read cases on a store, then removes its
// oldest month through DeleteReadingsBefore, as retention does (how, says
// what the log line tells), and returns the month's cutoff.
func readAndRemoveMonth(ctx context.Context, cfg scaleConfig, st store.Store, s scaleSet, system string,
	r *sysResult, logf func(string, ...any), how string) (time.Time, error) {
	if err := runCases(ctx, system, s.ids, cfg.Queries, r, logf, storeCases(st, s)); err != nil {
		return time.Time{}, err
	}
	if wh, err := yearWh(ctx, st, s, s.ids[0]); err == nil {
		logf("  %s: energy over the year %.1f Wh (store.Energy)", s.ids[0], wh)
	}
	cutoff := s.oldest().Add(30 * 24 * time.Hour)
	want := int64(s.readingsBefore(cutoff) * s.devices)
	logf("removing the oldest month: store DeleteReadingsBefore(%s, %d) until 0 (%s), at most %s", cutoff.Format(time.RFC3339), cfg.DeleteBatch, how, cfg.DeleteLimit)
	m, err := removeMonth(ctx, st, cutoff, cfg.DeleteBatch, cfg.DeleteLimit, want)
	if err != nil {
		return time.Time{}, err
	}
	m.Name = "store DeleteReadingsBefore loop (with roll-up trim)"
	logf("  %s", m.cell())
	r.Removals = append(r.Removals, m)
	return cutoff, nil
}
