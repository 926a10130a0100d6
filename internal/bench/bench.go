package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

// Targets, for 2 cores with server, database and load generator on one
// machine (docs/benchmarks.md says where each comes from).
const (
	targetBatchRatio = 0.70
	targetFleetRPS   = 10_000
	targetFleetP99   = 50 * time.Millisecond
	targetDayP99     = 10 * time.Millisecond
	targetMonthP99   = 50 * time.Millisecond
	targetRSS        = 100_000_000 // bytes

	batchSize = 100 // readings per request in the batch phase
)

// querySpan is how far back the query phase's history reaches: a little
// over the 30 days of the longest query.
const querySpan = 35 * 24 * time.Hour

// Run is `make bench`: every phase on every backend, then the table.
func Run(ctx context.Context, out io.Writer) error {
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(out, "# "+format+"\n", args...) }
	logf("thermowatt bench: %s", cfg.describe())
	logf("machine: %s, %d CPUs; bench built with %s; server: %s", cpuModel(), runtime.NumCPU(), runtime.Version(), goVersionOf(cfg.Binary))
	logf("load average before the run: %s", loadAvg())
	logf("per-token rate limits are lifted for this run (RATE_LIMIT=0): %d simulated devices stand in for a fleet of millions", cfg.Fleet)

	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	stopCluster, err := usePrivateCluster(&cfg, logf)
	if err != nil {
		return err
	}
	defer stopCluster()
	var figs []figure
	for _, backend := range cfg.Backends {
		f, err := runBackend(ctx, cfg, backend, logf)
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
		figs = append(figs, f...)
	}
	fmt.Fprintln(out)
	printTable(out, figs)
	return nil
}

func measureBare(ctx context.Context, cfg Config) (result, error) {
	addr, stop, err := startBare()
	if err != nil {
		return result{}, err
	}
	defer stop()
	workers := make([]request, cfg.Fleet)
	base := time.Now().Add(-time.Hour)
	for i := range workers {
		workers[i] = postReadings(addr, "unused", fmt.Sprintf("bare-%04d", i), base, 1)
	}
	cpu0 := takeCPU(0)
	r := run(ctx, addr, workers, http.StatusCreated, cfg.Duration)
	fmt.Printf("#   %s (the bare handler runs inside the load generator)\n", cpuShare(cpu0, takeCPU(0), len(r.Latencies), "request"))
	if r.Errors > 0 {
		return r, fmt.Errorf("bare handler: %d errors, first: %s", r.Errors, r.FirstErr)
	}
	return r, nil
}

func runBackend(ctx context.Context, cfg Config, backend string, logf func(string, ...any)) ([]figure, error) {
	tmp, err := os.MkdirTemp("", "thermowatt-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	logPath := filepath.Join(os.TempDir(), "thermowatt-bench-"+backend+".log")
	logf("== %s (server log: %s)", backend, logPath)

	var (
		srv         *server
		ceiling     float64
		ceilingName string
		dbURL       string
		dbPath      = filepath.Join(tmp, "data", "thermowatt.db")
	)
	switch backend {
	case "postgres":
		var drop func()
		dbURL, drop, err = createDatabase(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		defer drop()
		logf("PostgreSQL: %s", pgSettings(ctx, dbURL))
		if srv, err = startServer(ctx, cfg.Binary, logPath, "DATABASE_URL="+dbURL); err != nil {
			return nil, err
		}
		ceilingName = "CopyFrom"
		logf("ceiling: pgx CopyFrom of %d readings, in the batch phase's order, into a table LIKE device_measurements INCLUDING ALL", cfg.CeilingRows)
		cpu0 := takeCPU(srv.pid())
		ceiling, err = pgCopyCeiling(ctx, dbURL, cfg.BatchClients, cfg.CeilingRows)
		logf("  %s", cpuShare(cpu0, takeCPU(srv.pid()), cfg.CeilingRows, "row"))
	case "sqlite":
		ceilingName = "bulk tx"
		logf("ceiling: %d readings into an identical SQLite table, in the batch phase's order, prepared INSERTs of 100 rows, 50,000 rows per transaction", cfg.CeilingRows)
		cpu0 := takeCPU(0)
		if ceiling, err = sqliteCeiling(ctx, filepath.Join(tmp, "ceiling", "ceiling.db"), cfg.BatchClients, cfg.CeilingRows); err != nil {
			return nil, err
		}
		logf("  %s (SQLite runs inside the load generator here)", cpuShare(cpu0, takeCPU(0), cfg.CeilingRows, "row"))
		srv, err = startServer(ctx, cfg.Binary, logPath, "DATA_DIR="+filepath.Dir(dbPath))
	}
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.stop()
		}
	}()
	logf("  %s ceiling: %.0f rows/s", ceilingName, ceiling)

	a := api{url: srv.URL, c: newClient(8)}
	batchIDs := names("batch", cfg.BatchClients)
	fleetIDs := names("fleet", cfg.Fleet)
	tokens, err := a.devices(ctx, append(batchIDs, fleetIDs...))
	if err != nil {
		return nil, err
	}
	var figs []figure
	add := func(f figure) { f.Backend = backend; figs = append(figs, f) }

	// Batch ingest: arrays of 100 readings.
	logf("batch ingest: %d clients posting arrays of %d readings, %s", cfg.BatchClients, batchSize, cfg.Duration)
	base := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	workers := make([]request, cfg.BatchClients)
	for i := range workers {
		workers[i] = postReadings(srv.addr(), tokens[i], batchIDs[i], base, batchSize)
	}
	waitProfile := profile(ctx, cfg, srv, "batch-"+backend, logf)
	cpu0 := takeCPU(srv.pid())
	br := run(ctx, srv.addr(), workers, http.StatusCreated, cfg.Duration)
	logf("  %s", cpuShare(cpu0, takeCPU(srv.pid()), batchSize*len(br.Latencies), "reading"))
	waitProfile()
	if br.Errors > 0 {
		return nil, fmt.Errorf("batch ingest: %d errors, first: %s", br.Errors, br.FirstErr)
	}
	batchRate := br.perSecond() * batchSize
	logf("  %.0f readings/s (%.0f requests/s, p50 %s, p99 %s)", batchRate, br.perSecond(), ms(br.quantile(0.5)), ms(br.quantile(0.99)))
	add(figure{Name: "batch ingest (100/request)", Value: rate(batchRate, "readings/s"),
		Ceiling: rate(ceiling, "rows/s") + " " + ceilingName, Ratio: batchRate / ceiling,
		Target: fmt.Sprintf(">= %.0f%% of ceiling", targetBatchRatio*100), Met: yes(batchRate/ceiling >= targetBatchRatio)})

	// The bare handler's ceiling is measured right before the fleet phase,
	// so that both see the same machine (others' load varies by the minute).
	logf("ceiling: bare handler (wire.Decode + 201), %d connections, single readings, %s", cfg.Fleet, cfg.Duration)
	bare, err := measureBare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	logf("  %.0f requests/s (p50 %s, p99 %s)", bare.perSecond(), ms(bare.quantile(0.5)), ms(bare.quantile(0.99)))

	// Fleet: one reading per request, each device with its own token.
	logf("fleet: %d devices, one reading per request, own token each, durable (2xx after commit), %s", cfg.Fleet, cfg.Duration)
	workers = make([]request, cfg.Fleet)
	for i := range workers {
		workers[i] = postReadings(srv.addr(), tokens[cfg.BatchClients+i], fleetIDs[i], base, 1)
	}
	waitProfile = profile(ctx, cfg, srv, "fleet-"+backend, logf)
	cpu0 = takeCPU(srv.pid())
	fr := run(ctx, srv.addr(), workers, http.StatusCreated, cfg.Duration)
	logf("  %s", cpuShare(cpu0, takeCPU(srv.pid()), len(fr.Latencies), "request"))
	waitProfile()
	if fr.Errors > 0 {
		return nil, fmt.Errorf("fleet: %d errors, first: %s", fr.Errors, fr.FirstErr)
	}
	p50, p99 := fr.quantile(0.5), fr.quantile(0.99)
	logf("  %.0f requests/s, p50 %s, p99 %s", fr.perSecond(), ms(p50), ms(p99))
	add(figure{Name: "fleet requests/s (1/request)", Value: rate(fr.perSecond(), "req/s"),
		Ceiling: rate(bare.perSecond(), "req/s") + " bare", Ratio: fr.perSecond() / bare.perSecond(),
		Target: fmt.Sprintf(">= %d req/s", targetFleetRPS), Met: yes(fr.perSecond() >= targetFleetRPS)})
	add(figure{Name: "fleet p50", Value: ms(p50), Ceiling: ms(bare.quantile(0.5)) + " bare", Ratio: ratioOf(bare.quantile(0.5), p50)})
	add(figure{Name: "fleet p99", Value: ms(p99), Ceiling: ms(bare.quantile(0.99)) + " bare", Ratio: ratioOf(bare.quantile(0.99), p99),
		Target: "< " + ms(targetFleetP99), Met: yes(p99 < targetFleetP99)})
	ingestRSS := srv.PeakRSS()
	logf("  server peak resident size so far: %s", mb(ingestRSS))

	// Queries over BENCH_ROWS readings of 1,000 devices.
	h := newHistory("q", cfg.QueryDevices, 1, cfg.Rows, time.Now(), querySpan)
	logf("loading %d readings of %d devices (one every %s each, over %s) for the queries ...", h.n, cfg.QueryDevices, h.step.Round(time.Second), querySpan)
	var took time.Duration
	if backend == "postgres" {
		took, err = pgFill(ctx, dbURL, h)
	} else {
		took, err = sqliteFill(ctx, dbPath, h)
	}
	if err != nil {
		return nil, err
	}
	logf("  loaded in %s (%.0f rows/s, including ANALYZE)", took.Round(time.Second), float64(h.n)/took.Seconds())

	reader, err := a.readerToken(ctx)
	if err != nil {
		return nil, err
	}
	var st store.Store
	if backend == "postgres" {
		st, err = postgres.Open(ctx, dbURL)
	} else {
		st, err = sqlite.Open(ctx, dbPath)
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()

	now := time.Now()
	dayQ := func(dev string) store.Query {
		return store.Query{DeviceID: dev, From: now.Add(-24 * time.Hour), To: now.Add(time.Minute), Limit: 1000}
	}
	monthQ := func(dev string) store.Query {
		return store.Query{DeviceID: dev, From: now.Add(-30 * 24 * time.Hour), To: now.Add(time.Minute), Limit: 1000}
	}
	pageOf := func(q func(string) store.Query) func(context.Context, string) error {
		return func(ctx context.Context, dev string) error { _, err := st.QueryReadings(ctx, q(dev)); return err }
	}
	monthHTTP, monthStore := pageOf(monthQ), "page"
	monthURL := monthPath(ctx, srv.URL, reader, h.ids[0], now, monthQ)
	if strings.Contains(monthURL(h.ids[0]), "/series") {
		monthStore = "series"
		monthHTTP = func(ctx context.Context, dev string) error {
			_, err := st.Series(ctx, store.SeriesQuery{DeviceID: dev, From: now.Add(-30 * 24 * time.Hour), To: now.Add(time.Minute), Bucket: time.Hour})
			return err
		}
	}
	for _, qp := range []struct {
		name   string
		file   string // of its profile
		path   func(dev string) string
		store  func(ctx context.Context, dev string) error // the same through the store alone
		target time.Duration
	}{
		{"query 24 h of one device", "day", func(dev string) string { return measurementsPath(dayQ(dev)) }, pageOf(dayQ), targetDayP99},
		{"query 30 days of one device (" + monthStore + ")", "month", monthURL, monthHTTP, targetMonthP99},
	} {
		logf("%s: %d clients, random device of %d, %s: GET %s", qp.name, cfg.QueryClients, cfg.QueryDevices, cfg.Duration, qp.path(h.ids[0]))
		workers := make([]request, cfg.QueryClients)
		for w := range workers {
			workers[w] = func(n int) []byte {
				dev := h.ids[(n*7919+w*104729)%len(h.ids)]
				return httpRequest(http.MethodGet, srv.addr(), qp.path(dev), reader, nil)
			}
		}
		waitProfile := profile(ctx, cfg, srv, qp.file+"-"+backend, logf)
		cpu0 := takeCPU(srv.pid())
		qr := run(ctx, srv.addr(), workers, http.StatusOK, cfg.Duration)
		logf("  %s", cpuShare(cpu0, takeCPU(srv.pid()), len(qr.Latencies), "query"))
		waitProfile()
		if qr.Errors > 0 {
			return nil, fmt.Errorf("%s: %d errors, first: %s", qp.name, qr.Errors, qr.FirstErr)
		}
		// The ceiling: the same query through the store, without HTTP,
		// JSON or authentication: what the database alone takes.
		cr, err := storeQueries(ctx, h.ids, qp.store, cfg.QueryClients, cfg.Duration/3)
		if err != nil {
			return nil, err
		}
		logf("  %.0f queries/s, p50 %s, p99 %s; store alone p50 %s, p99 %s", qr.perSecond(),
			ms(qr.quantile(0.5)), ms(qr.quantile(0.99)), ms(cr.quantile(0.5)), ms(cr.quantile(0.99)))
		add(figure{Name: qp.name + " p50", Value: ms(qr.quantile(0.5)), Ceiling: ms(cr.quantile(0.5)) + " store", Ratio: ratioOf(cr.quantile(0.5), qr.quantile(0.5))})
		add(figure{Name: qp.name + " p99", Value: ms(qr.quantile(0.99)), Ceiling: ms(cr.quantile(0.99)) + " store", Ratio: ratioOf(cr.quantile(0.99), qr.quantile(0.99)),
			Target: "< " + ms(qp.target), Met: yes(qr.quantile(0.99) < qp.target)})

		// The same with one reader: the latency a dashboard user sees when
		// the server is not also busy with three other readers' queries
		// (above, the four keep both cores busy and the p99 is mostly
		// queueing). Reported beside the target, not instead of it.
		one := run(ctx, srv.addr(), workers[:1], http.StatusOK, cfg.Duration/3)
		if one.Errors > 0 {
			return nil, fmt.Errorf("%s, 1 reader: %d errors, first: %s", qp.name, one.Errors, one.FirstErr)
		}
		oneStore, err := storeQueries(ctx, h.ids, qp.store, 1, cfg.Duration/3)
		if err != nil {
			return nil, err
		}
		logf("  1 reader: p50 %s, p99 %s; store alone p50 %s, p99 %s",
			ms(one.quantile(0.5)), ms(one.quantile(0.99)), ms(oneStore.quantile(0.5)), ms(oneStore.quantile(0.99)))
		add(figure{Name: qp.name + " p99, 1 reader", Value: ms(one.quantile(0.99)), Ceiling: ms(oneStore.quantile(0.99)) + " store",
			Ratio: ratioOf(oneStore.quantile(0.99), one.quantile(0.99)), Target: "(< " + ms(qp.target) + ")", Met: "(" + yes(one.quantile(0.99) < qp.target) + ")"})
	}

	peak := srv.PeakRSS()
	logf("server peak resident size: %s during ingest, %s overall", mb(ingestRSS), mb(peak))
	add(figure{Name: "server peak RSS (whole run)", Value: mb(peak), Ceiling: mb(targetRSS) + " limit", Ratio: float64(peak) / targetRSS,
		Target: "< " + mb(targetRSS), Met: yes(peak < targetRSS)})
	stopped = true
	if err := srv.stop(); err != nil {
		logf("server stop: %v", err)
	}
	return figs, nil
}

// profile takes a CPU profile of the server during the phase about to
// start, when BENCH_PROFILE names a directory; call the result when the
// phase is over.
func profile(ctx context.Context, cfg Config, srv *server, name string, logf func(string, ...any)) (wait func()) {
	if cfg.ProfileDir == "" {
		return func() {}
	}
	path := filepath.Join(cfg.ProfileDir, name+".pprof")
	logf("  CPU profile of the server: %s (go tool pprof -top %s %s)", path, cfg.Binary, path)
	done := make(chan error, 1)
	go func() {
		time.Sleep(cfg.Duration / 10) // past the ramp-up
		done <- srv.cpuProfile(ctx, max(cfg.Duration*7/10, time.Second), path)
	}()
	return func() {
		if err := <-done; err != nil {
			logf("  profile failed: %v", err)
		}
	}
}

func ratioOf(best, got time.Duration) float64 {
	if got <= 0 {
		return 0
	}
	return float64(best) / float64(got)
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

func measurementsPath(q store.Query) string {
	v := url.Values{}
	v.Set("deviceId", q.DeviceID)
	v.Set("from", q.From.UTC().Format(time.RFC3339))
	v.Set("to", q.To.UTC().Format(time.RFC3339))
	v.Set("limit", fmt.Sprint(q.Limit))
	return "/api/measurements?" + v.Encode()
}

// monthPath uses the series endpoint (dashboard issue) when the server has
// it, and otherwise a 30-day page of GET /api/measurements (1,000 rows,
// the largest page), which the output then says.
func monthPath(ctx context.Context, base, token, dev string, now time.Time, q func(string) store.Query) func(string) string {
	series := func(dev string) string {
		v := url.Values{}
		v.Set("deviceId", dev)
		v.Set("from", now.Add(-30*24*time.Hour).UTC().Format(time.RFC3339))
		v.Set("to", now.Add(time.Minute).UTC().Format(time.RFC3339))
		v.Set("bucket", "1h")
		return "/api/measurements/series?" + v.Encode()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+series(dev), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return series
		}
	}
	return func(dev string) string { return measurementsPath(q(dev)) }
}

// storeQueries runs q through the store directly, closed-loop.
func storeQueries(ctx context.Context, ids []string, q func(context.Context, string) error, clients int, d time.Duration) (result, error) {
	r := result{}
	type out struct {
		lat []time.Duration
		err error
	}
	done := make(chan out, clients)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range clients {
		go func() {
			var o out
			for n := 0; time.Now().Before(deadline); n++ {
				t0 := time.Now()
				if err := q(ctx, ids[(n*7919+w*104729)%len(ids)]); err != nil {
					o.err = err
					break
				}
				o.lat = append(o.lat, time.Since(t0))
			}
			done <- o
		}()
	}
	for range clients {
		o := <-done
		if o.err != nil {
			return r, o.err
		}
		r.Latencies = append(r.Latencies, o.lat...)
	}
	r.Elapsed = time.Since(start)
	r.Requests = len(r.Latencies)
	slices.Sort(r.Latencies)
	return r, nil
}

func pgSettings(ctx context.Context, dbURL string) string {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	var parts []string
	for _, s := range []string{"server_version", "fsync", "synchronous_commit", "shared_buffers", "wal_level"} {
		var v string
		if err := conn.QueryRow(ctx, "SHOW "+s).Scan(&v); err == nil {
			parts = append(parts, s+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// goVersionOf reports the Go version a binary was built with.
func goVersionOf(bin string) string {
	out, err := exec.Command("go", "version", bin).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
