package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/bench/sensordata"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// RunRolling is `make bench-rolling`: issue 20's current week on
// PostgreSQL as a fleet that has been running for weeks sees it, rather
// than a week loaded at once. ROLLING_DAYS days of sensor-like readings
// (ROLLING_DEVICES devices, one every 5 minutes, the firmware's payload)
// are stored hour by hour up to now, through the store as serve stores
// them, with the materializer and the compactor run after every hour as
// of that hour (the compaction age each of ROLLING_AGES). After each day
// from the eighth on it prints the bytes a reading of the last 7 days
// takes (lastWeek): the partitions of readings those days are in (rows,
// indexes, and the free pages compaction left in them), reading_blocks
// and hourly_rollups, each in the week's share, and the small tables
// whole. On a
// private cluster with PostgreSQL's default settings (autovacuum on).
func RunRolling(ctx context.Context, out io.Writer) error {
	devices, err := envInt("ROLLING_DEVICES", 100)
	if err != nil {
		return err
	}
	days, err := envInt("ROLLING_DAYS", 21)
	if err != nil {
		return err
	}
	if days < 8 {
		return fmt.Errorf("ROLLING_DAYS=%d: at least 8, to measure a whole week", days)
	}
	var ages []time.Duration
	for _, a := range strings.Split(env("ROLLING_AGES", "24h,168h"), ",") {
		d, err := time.ParseDuration(strings.TrimSpace(a))
		if err != nil || d <= 0 {
			return fmt.Errorf("ROLLING_AGES: %q is not a duration", a)
		}
		ages = append(ages, d)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(out, "# "+format+"\n", args...) }
	admin := env("BENCH_DATABASE_URL", "")
	if admin == "" {
		url, stop, err := privateCluster(logf)
		if err != nil {
			return err
		}
		defer stop()
		admin = url
	}
	end := time.Now().UTC().Truncate(time.Hour)
	data := sensordata.Config{Devices: devices, PerDevice: days * 288, Start: end.Add(-time.Duration(days) * 24 * time.Hour),
		Step: 5 * time.Minute, Seed: 2026, HealthEvery: 20}
	logf("%d devices x %d readings 5 minutes apart, %s to %s, stored an hour at a time", devices, data.PerDevice,
		data.Start.Format(time.DateTime), end.Format(time.DateTime))
	readings := make([][]sensordata.Reading, devices)
	for d := range readings {
		readings[d] = data.Device(d)
	}
	for _, age := range ages {
		if err := rollingRun(ctx, out, admin, data, readings, age); err != nil {
			return fmt.Errorf("COMPACTION_AGE=%s: %w", age, err)
		}
	}
	return nil
}

// rollingRun stores readings into a new database with the compaction
// age age and prints the last week's bytes a reading, day by day.
func rollingRun(ctx context.Context, out io.Writer, admin string, data sensordata.Config, readings [][]sensordata.Reading, age time.Duration) error {
	dbURL, drop, err := createDatabase(ctx, admin)
	if err != nil {
		return err
	}
	if os.Getenv("ROLLING_KEEP") == "" {
		defer drop()
	} else {
		fmt.Fprintf(out, "# kept (ROLLING_KEEP): %s\n", dbURL)
	}
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// The weeks' partitions, as serve creates them at start
	// (PartitionHistory) and a week ahead from then on.
	if err := s.PartitionHistory(ctx, data.Start, data.Start.Add(time.Duration(data.PerDevice)*data.Step)); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nCOMPACTION_AGE=%s: bytes a reading of the last 7 days, and of those readings the share still rows\n%-16s %10s %9s %9s %9s %9s %9s %9s %9s\n", age,
		"day ending", "readings", "in rows", "B/reading", "rows", "of which", "blocks", "rollups", "other")
	fmt.Fprintf(out, "%-16s %10s %9s %9s %9s %9s %9s %9s %9s\n", "", "", "", "", "", "indexes", "", "", "")
	var worst, sum float64
	var measured int
	started := time.Now()
	perHour := int(time.Hour / data.Step)
	for h := 0; h*perHour < data.PerDevice; h++ {
		now := data.Start.Add(time.Duration(h+1) * time.Hour) // the hour's end: the simulated clock
		if err := storeHour(ctx, s, readings, h*perHour, min((h+1)*perHour, data.PerDevice), now); err != nil {
			return err
		}
		if err := store.MaterializePass(ctx, s, 64, now.Add(time.Second)); err != nil {
			return err
		}
		if err := store.CompactPass(ctx, s, now.Add(-age), 16); err != nil {
			return err
		}
		if !now.Equal(now.Truncate(24*time.Hour)) || now.Sub(data.Start) < 7*24*time.Hour {
			continue
		}
		w, err := lastWeek(ctx, conn, now)
		if err != nil {
			return err
		}
		per := float64(w.total()) / float64(w.readings)
		fmt.Fprintf(out, "%-16s %10d %8.0f%% %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f\n", now.Format("2006-01-02 Mon"), w.readings,
			100*float64(w.inRows)/float64(w.readings), per,
			float64(w.rows)/float64(w.readings), float64(w.indexes)/float64(w.readings), float64(w.blocks)/float64(w.readings),
			float64(w.rollups)/float64(w.readings), float64(w.other)/float64(w.readings))
		worst, sum, measured = max(worst, per), sum+per, measured+1
	}
	fmt.Fprintf(out, "the last 7 days over %d days: mean %.0f, worst %.0f bytes a reading (stored in %s)\n",
		measured, sum/float64(measured), worst, time.Since(started).Round(time.Second))
	return nil
}

// storeHour stores readings[d][from:to] of every device, one batch per
// device, four devices at a time, received at now: fewer calls than a
// firmware sending each reading as it is taken, the same rows, with the
// devices' readings interleaved in the table as a fleet's are.
func storeHour(ctx context.Context, s *postgres.Store, readings [][]sensordata.Reading, from, to int, now time.Time) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range 4 {
		wg.Go(func() {
			for d := range next {
				batch := make([]thermowatt.Reading, 0, to-from)
				for _, r := range readings[d][from:to] {
					batch = append(batch, r.Reading)
				}
				if _, err := s.InsertReadings(ctx, batch, now); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for d := range readings {
		next <- d
	}
	close(next)
	wg.Wait()
	return first
}

// week is what the readings of a week take, in bytes.
type week struct {
	readings, inRows             int64
	rows, blocks, rollups, other int64
	indexes                      int64 // of rows
}

func (w week) total() int64 { return w.rows + w.blocks + w.rollups + w.other }

// lastWeek measures the readings of [now - 7 days, now): the partitions
// of readings holding any of those days, in the share of their rows that
// are of those days (whole when compaction left them without rows but
// not yet truncated: that is the week's own cost); reading_blocks and
// hourly_rollups in the share of their rows that are of those days; the
// tables whose size does not grow with the readings (device_state,
// rollup_pending, payload_shapes), whole.
func lastWeek(ctx context.Context, conn *pgx.Conn, now time.Time) (week, error) {
	var w week
	from := now.Add(-7 * 24 * time.Hour)
	err := conn.QueryRow(ctx, `
		WITH parts AS (SELECT relid AS oid, lower, upper FROM `+postgres.PartitionBounds+`),
		-- A partition's share of the week: the share of its rows that are
		-- of the week; one left with pages but no row (compacted, not yet
		-- truncated) whole, as the week's compaction left it.
		shares AS (
			SELECT p.oid, CASE WHEN n.total = 0 THEN 1.0 ELSE n.inside::float8 / n.total END AS share
			FROM parts p CROSS JOIN LATERAL (
				SELECT count(*) AS total, count(*) FILTER (WHERE m.recorded_at >= $1 AND m.recorded_at < $2) AS inside
				FROM device_measurements m WHERE m.tableoid = p.oid) n
			WHERE coalesce(p.lower, '-infinity') < $2 AND coalesce(p.upper, 'infinity') > $1)
		SELECT
			(SELECT count(*) FROM device_measurements WHERE recorded_at >= $1 AND recorded_at < $2)
				+ (SELECT coalesce(sum(readings), 0) FROM reading_blocks WHERE day >= $1 AND day < $2),
			(SELECT count(*) FROM device_measurements WHERE recorded_at >= $1 AND recorded_at < $2),
			(SELECT coalesce(sum(pg_total_relation_size(oid) * share), 0)::int8 FROM shares),
			(SELECT coalesce(sum(pg_indexes_size(oid) * share), 0)::int8 FROM shares),
			(SELECT coalesce(pg_total_relation_size('reading_blocks') * sum(readings) FILTER (WHERE day >= $1 AND day < $2)
				/ nullif(sum(readings), 0), 0)::int8 FROM reading_blocks),
			(SELECT coalesce(pg_total_relation_size('hourly_rollups') * count(*) FILTER (WHERE hour >= $1 AND hour < $2)
				/ nullif(count(*), 0), 0)::int8 FROM hourly_rollups),
			pg_total_relation_size('device_state') + pg_total_relation_size('rollup_pending') + pg_total_relation_size('payload_shapes')`,
		from, now).Scan(&w.readings, &w.inRows, &w.rows, &w.indexes, &w.blocks, &w.rollups, &w.other)
	return w, err
}
