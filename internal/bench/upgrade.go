package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// RunUpgrade is `make bench-upgrade` (issue 20): a PostgreSQL database
// as a version before compaction left it, UPGRADE_READINGS readings of
// old weeks in rows with their roll-ups materialized, is served by this
// binary, whose compactor works through it in the background while
// devices go on sending: the time until every old day is compacted, the
// ingest p99 before the upgrade (serve with COMPACTION_AGE=0, the same
// database) and during the compaction, and the disk before and after.
func RunUpgrade(ctx context.Context, out io.Writer) error {
	devices, err := envInt("UPGRADE_DEVICES", 1000)
	if err != nil {
		return err
	}
	readings, err := envInt("UPGRADE_READINGS", 10_000_000)
	if err != nil {
		return err
	}
	live, err := envInt("UPGRADE_LIVE_DEVICES", 100)
	if err != nil {
		return err
	}
	phase, err := time.ParseDuration(env("UPGRADE_PHASE", "60s"))
	if err != nil {
		return fmt.Errorf("UPGRADE_PHASE: %w", err)
	}
	binary := env("BENCH_BIN", "bin/thermowatt")
	logf := func(format string, args ...any) { fmt.Fprintf(out, "# "+format+"\n", args...) }
	logf("thermowatt bench-upgrade: %d readings of %d devices, 5 minutes apart, ending 8 days ago; %d live devices posting a reading a second each (UPGRADE_LIVE_DEVICES); load average %s",
		readings, devices, live, loadAvg())

	base := os.Getenv("BENCH_DATABASE_URL")
	if base == "" {
		url, stop, err := privateCluster(logf)
		if err != nil {
			return err
		}
		defer stop()
		base = url
	}
	dbURL, drop, err := createScratchDatabase(ctx, base, "upgrade")
	if err != nil {
		return err
	}
	defer drop()
	logf("PostgreSQL: %s; scratch database %s", pgSettings(ctx, dbURL), dbName(dbURL))

	// The old version's database: the readings in rows, the roll-ups
	// materialized.
	s := newScaleSet(devices, readings/devices, time.Now().UTC().Add(-8*24*time.Hour).Truncate(time.Hour))
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	if err := st.PartitionHistory(ctx, s.oldest(), time.Now()); err != nil {
		st.Close()
		return err
	}
	logf("loading %d readings through store.InsertReadings (as bench-scale, binary COPY), %s to %s ...", s.n(), s.oldest().Format(time.RFC3339), s.end.Format(time.RFC3339))
	load, err := loadThroughStore(ctx, scaleConfig{Batch: 2016, Loaders: 2}, st, s, "upgrade", logf)
	if err != nil {
		st.Close()
		return err
	}
	logf("  loaded in %s (%.0f readings/s)", dur(load), float64(s.n())/load.Seconds())
	t0 := time.Now()
	if err := store.MaterializePass(ctx, st, 2000, time.Now().Add(time.Hour)); err != nil {
		st.Close()
		return err
	}
	logf("  roll-ups materialized in %s", dur(time.Since(t0)))
	st.Close()
	size := func() (int64, string, error) { return pgDiskSize(ctx, dbURL, 0, logf) }
	before, what, err := size()
	if err != nil {
		return err
	}
	logf("disk before the upgrade: %s (%.1f bytes a reading; %s)", mb(before), float64(before)/float64(s.n()), what)

	logPath := filepath.Join(os.TempDir(), "thermowatt-bench-upgrade.log")
	settleFor, err := time.ParseDuration(env("UPGRADE_SETTLE", "90s"))
	if err != nil {
		return fmt.Errorf("UPGRADE_SETTLE: %w", err)
	}
	ingest := func(name string, compaction string, until func(context.Context) (bool, error)) (result, time.Duration, error) {
		srv, err := startServer(ctx, binary, logPath, "DATABASE_URL="+dbURL, "COMPACTION_AGE="+compaction,
			// the old readings were all loaded just now: their devices'
			// newest days are not being written
			"COMPACTION_WRITTEN_FOR=0")
		if err != nil {
			return result{}, 0, err
		}
		defer srv.stop()
		a := api{url: srv.URL, c: &http.Client{Timeout: time.Minute}}
		ids := make([]string, live)
		for i := range ids {
			ids[i] = fmt.Sprintf("live-%s-%04d", name, i)
		}
		tokens, err := a.devices(ctx, ids)
		if err != nil {
			return result{}, 0, err
		}
		res, took, err := postLive(ctx, srv.URL, ids, tokens, phase, until)
		if err != nil {
			return res, took, err
		}
		logf("  %s: %d readings posted one a request, p50 %s, p99 %s, max %s, over %s", name, res.Requests,
			ms(res.quantile(0.5)), ms(res.quantile(0.99)), ms(res.quantile(1)), dur(res.Elapsed))
		if until != nil {
			// What the pass does once the last day is compacted (the
			// emptied partitions truncated, the roll-ups' pages given
			// back) before the disk is measured, serve still running.
			logf("  settling %s (UPGRADE_SETTLE) ...", settleFor)
			if err := settle(ctx, settleFor); err != nil {
				return res, took, err
			}
		}
		return res, took, nil
	}
	logf("ingest before the upgrade (COMPACTION_AGE=0: this binary, compaction off), %s:", phase)
	if _, _, err := ingest("before", "0", nil); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	oldLeft := func(ctx context.Context) (bool, error) {
		var left bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM device_measurements WHERE recorded_at <= $1)`, s.end).Scan(&left)
		return !left, err
	}
	logf("ingest during the upgrade (COMPACTION_AGE=168h: the old weeks): until no old row is left ...")
	_, took, err := ingest("during", "168h", oldLeft)
	if err != nil {
		return err
	}
	logf("  every old day compacted %s after serve started (%.0f readings/s)", dur(took), float64(s.n())/took.Seconds())
	after, what, err := size()
	if err != nil {
		return err
	}
	logf("disk after the upgrade: %s (%.1f bytes an old reading; %s)", mb(after), float64(after)/float64(s.n()), what)
	return nil
}

func envInt(name string, def int) (int, error) {
	f, err := strconv.ParseFloat(env(name, strconv.Itoa(def)), 64) // accepts 1e7
	if err != nil || f < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive number", name, os.Getenv(name))
	}
	return int(f), nil
}

// postLive has each device of ids post one current reading a second (its
// own connection, closed loop at that pace) for d, or, with until, until
// until says done (checked every 2 s; at least d); it returns the
// latencies and how long it ran.
func postLive(ctx context.Context, url string, ids, tokens []string, d time.Duration, until func(context.Context) (bool, error)) (result, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		lats  []time.Duration
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				body := readingJSON(nil, id, time.Now(), n, n%20 == 0)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/measurements", bytes.NewReader(body))
				if err != nil {
					return
				}
				req.Header.Set("Authorization", "Bearer "+tokens[i])
				t0 := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("POST /api/measurements: %s", resp.Status)
					}
				}
				mu.Lock()
				if err != nil && ctx.Err() == nil && first == nil {
					first = err
				}
				if err == nil {
					lats = append(lats, time.Since(t0))
				}
				mu.Unlock()
			}
		}()
	}
	wait := time.NewTimer(d)
	defer wait.Stop()
	<-wait.C
	took := time.Since(start)
	for until != nil {
		done, err := until(ctx)
		if err != nil {
			cancel()
			wg.Wait()
			return result{}, 0, err
		}
		took = time.Since(start)
		if done {
			break
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return result{}, 0, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	cancel()
	wg.Wait()
	slices.Sort(lats)
	return result{Latencies: lats, Requests: len(lats), Elapsed: time.Since(start)}, took, first
}
