package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// RunPeers is `make bench-peers`: thermowatt on PostgreSQL and on SQLite
// beside InfluxDB 1.x and a bare Go net/http handler, under the same load
// generator and the same readings, in one table of ratios. Every ingest
// is acknowledged durably: thermowatt answers after its fsynced commit,
// InfluxDB after fsyncing its WAL (its default).
//
// Each round runs every target in turn, so that all of a round's figures
// see much the same machine; the table gives each round.
func RunPeers(ctx context.Context, out io.Writer) error {
	cfg, err := peersConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	logf := func(format string, args ...any) { fmt.Fprintf(out, "# "+format+"\n", args...) }
	logf("thermowatt bench-peers: %d devices with a token each posting single readings, %d clients posting %d-reading batches, %s per phase, %d rounds, bounded by %s",
		cfg.Fleet, cfg.BatchClients, cfg.PeerBatch, cfg.Duration, cfg.Rounds, cfg.Timeout)
	logf("machine: %s, %d CPUs; load average before the run: %s", cpuModel(), runtime.NumCPU(), loadAvg())

	influxd := cfg.Influxd
	if influxd == "" {
		influxd, _ = exec.LookPath("influxd")
	}
	if influxd == "none" {
		influxd = ""
		logf("BENCH_INFLUXD=none: InfluxDB left out")
	} else if influxd == "" {
		logf("%s; its rows are left out", influxMissing)
	} else if v, err := exec.Command(influxd, "version").Output(); err == nil {
		logf("InfluxDB: %s (%s)", strings.TrimSpace(string(v)), influxd)
	}
	victoria := victoriaBinary(logf)
	binaries := []string{cfg.Binary}
	if cfg.Second != "" {
		binaries = append(binaries, cfg.Second)
		logf("BENCH_BIN: %s beside %s (server: %s)", cfg.Second, cfg.Binary, goVersionOf(cfg.Second))
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	stopCluster, err := usePrivateCluster(&cfg.Config, logf)
	if err != nil {
		return err
	}
	defer stopCluster()

	var rounds [][]peerRow
	for round := 1; round <= cfg.Rounds; round++ {
		logf("== round %d (load average %s)", round, loadAvg())
		var rows []peerRow
		bare, err := measureBare(ctx, cfg.Config)
		if err != nil {
			return err
		}
		logf("bare net/http: %.0f requests/s, p99 %s", bare.perSecond(), ms(bare.quantile(0.99)))
		rows = append(rows, peerRow{Name: "bare Go net/http (decode only)", Single: bare, Busy: -1})
		if influxd != "" {
			r, err := peerInflux(ctx, cfg, influxd, logf)
			if err != nil {
				return fmt.Errorf("influxdb: %w", err)
			}
			rows = append(rows, r)
		}
		if victoria != "" {
			r, err := peerVictoria(ctx, cfg, victoria, logf)
			if err != nil {
				return fmt.Errorf("victoriametrics: %w", err)
			}
			rows = append(rows, r)
		}
		for _, backend := range cfg.Backends {
			for _, bin := range binaries {
				r, err := peerThermowatt(ctx, cfg, bin, backend, round, logf)
				if err != nil {
					return fmt.Errorf("thermowatt (%s) on %s: %w", bin, backend, err)
				}
				rows = append(rows, r)
			}
		}
		rounds = append(rounds, rows)
	}
	logf("load average after the run: %s", loadAvg())
	fmt.Fprintln(out)
	for i, rows := range rounds {
		fmt.Fprintf(out, "round %d\n", i+1)
		printPeers(out, rows, cfg.PeerBatch)
		fmt.Fprintln(out)
	}
	return nil
}

type peersConfig struct {
	Config
	PeerBatch int           // BENCH_PEER_BATCH: readings per batch request
	Rounds    int           // BENCH_ROUNDS
	Timeout   time.Duration // BENCH_TIMEOUT: the whole run
	Influxd   string        // BENCH_INFLUXD: the influxd binary; "none" leaves InfluxDB out
	// Second is BENCH_BIN: a second server binary (an older build, say)
	// measured beside bin/thermowatt in every round; "" for none.
	Second string
}

func peersConfigFromEnv() (peersConfig, error) {
	// The peer comparison's own defaults, unless set: the 200
	// devices and 10 s phases.
	for name, def := range map[string]string{"BENCH_DEVICES": "200", "BENCH_DURATION": "10s"} {
		if os.Getenv(name) == "" {
			os.Setenv(name, def)
		}
	}
	base, err := configFromEnv()
	if err != nil {
		return peersConfig{}, err
	}
	c := peersConfig{Config: base, Influxd: os.Getenv("BENCH_INFLUXD")}
	// bin/thermowatt always has its rows; BENCH_BIN adds a second binary's.
	c.Binary, c.Second = "bin/thermowatt", os.Getenv("BENCH_BIN")
	if c.PeerBatch, err = strconv.Atoi(env("BENCH_PEER_BATCH", "500")); err != nil || c.PeerBatch < 1 || c.PeerBatch > 500 {
		return c, fmt.Errorf("BENCH_PEER_BATCH=%q: want 1 to 500 (the API's largest batch)", os.Getenv("BENCH_PEER_BATCH"))
	}
	if c.Rounds, err = strconv.Atoi(env("BENCH_ROUNDS", "2")); err != nil || c.Rounds < 1 {
		return c, fmt.Errorf("BENCH_ROUNDS=%q: want a positive number", os.Getenv("BENCH_ROUNDS"))
	}
	if c.Timeout, err = time.ParseDuration(env("BENCH_TIMEOUT", "30m")); err != nil {
		return c, fmt.Errorf("BENCH_TIMEOUT: %w", err)
	}
	return c, nil
}

// peerRow is one target's figures in one round.
type peerRow struct {
	Name          string
	Single, Batch result
	SingleCPU     perUnit // per single-reading request
	BatchCPU      perUnit // per reading of the batch phase
	Ceiling       float64 // the backend's bulk load, rows/s; 0: none
	CeilingName   string
	CeilingCPU    perUnit
	Busy          float64 // machine busy share during the single phase; <0: not measured
	BatchBusy     float64
	HasBatch      bool
}

// perUnit is CPU time per unit of work: the server's process and the
// database's (PostgreSQL's processes; SQLite and InfluxDB run inside the
// server's).
type perUnit struct{ Server, DB time.Duration }

func (p perUnit) total() time.Duration { return p.Server + p.DB }

func cpuPer(a, b cpuSnapshot, n int) (perUnit, float64) {
	if n == 0 {
		return perUnit{}, 0
	}
	var pg time.Duration
	for pid, t := range b.postgres {
		pg += t - a.postgres[pid]
	}
	busy := float64(b.busy-a.busy) / float64(max(b.total-a.total, 1))
	return perUnit{Server: (b.server - a.server) / time.Duration(n), DB: pg / time.Duration(n)}, busy
}

func peerInflux(ctx context.Context, cfg peersConfig, influxd string, logf func(string, ...any)) (peerRow, error) {
	dir, err := os.MkdirTemp("", "thermowatt-bench-influxdb-")
	if err != nil {
		return peerRow{}, err
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(os.TempDir(), "thermowatt-bench-influxdb.log")
	db, err := startInflux(ctx, influxd, dir, logPath, "")
	if err != nil {
		return peerRow{}, err
	}
	defer db.stop()
	fleet, batchIDs := names("fleet", cfg.Fleet), names("batch", cfg.BatchClients)
	start := time.Now()
	auths, err := db.setUp(ctx, append(fleet, batchIDs...))
	if err != nil {
		return peerRow{}, err
	}
	created := time.Since(start)
	row := peerRow{Name: "InfluxDB (WAL fsync per write)", HasBatch: true}
	base := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	warmUp := make([]request, len(auths))
	for i, id := range append(fleet, batchIDs...) {
		warmUp[i] = influxWrites(db.addr, auths[i], id, base.Add(-time.Hour), 1)
	}
	if err := warm(ctx, db.addr, warmUp, http.StatusNoContent); err != nil {
		return row, err
	}
	logf("influxdb: %d users created in %.1f s, their first writes (bcrypt checks) %.1f s; not measured", len(auths),
		created.Seconds(), time.Since(start.Add(created)).Seconds())
	workers := make([]request, cfg.Fleet)
	for i := range workers {
		workers[i] = influxWrites(db.addr, auths[i], fleet[i], base, 1)
	}
	c0 := takeCPU(db.pid())
	row.Single = run(ctx, db.addr, workers, http.StatusNoContent, cfg.Duration)
	row.SingleCPU, row.Busy = cpuPer(c0, takeCPU(db.pid()), row.Single.Requests)
	row.SingleCPU.DB = 0 // nothing of PostgreSQL's is InfluxDB's
	if row.Single.Errors > 0 {
		return row, fmt.Errorf("single: %d errors, first: %s", row.Single.Errors, row.Single.FirstErr)
	}
	logf("influxdb single: %.0f requests/s, p99 %s, %s CPU per request", row.Single.perSecond(), ms(row.Single.quantile(0.99)), row.SingleCPU.Server)

	workers = make([]request, cfg.BatchClients)
	for i := range workers {
		workers[i] = influxWrites(db.addr, auths[cfg.Fleet+i], batchIDs[i], base, cfg.PeerBatch)
	}
	c0 = takeCPU(db.pid())
	row.Batch = run(ctx, db.addr, workers, http.StatusNoContent, cfg.Duration)
	row.BatchCPU, row.BatchBusy = cpuPer(c0, takeCPU(db.pid()), row.Batch.Requests*cfg.PeerBatch)
	row.BatchCPU.DB = 0
	if row.Batch.Errors > 0 {
		return row, fmt.Errorf("batch: %d errors, first: %s", row.Batch.Errors, row.Batch.FirstErr)
	}
	logf("influxdb batch: %.0f readings/s, p99 %s", row.Batch.perSecond()*float64(cfg.PeerBatch), ms(row.Batch.quantile(0.99)))
	return row, nil
}

func peerThermowatt(ctx context.Context, cfg peersConfig, binary, backend string, round int, logf func(string, ...any)) (peerRow, error) {
	tmp, err := os.MkdirTemp("", "thermowatt-bench-")
	if err != nil {
		return peerRow{}, err
	}
	defer os.RemoveAll(tmp)
	logPath := filepath.Join(os.TempDir(), "thermowatt-bench-peers-"+backend+".log")
	row := peerRow{Name: "thermowatt on " + backend, HasBatch: true}
	if binary != cfg.Binary {
		row.Name = fmt.Sprintf("thermowatt %s on %s", binary, backend)
	}
	h := newHistory("ceiling", cfg.BatchClients, cfg.PeerBatch, cfg.CeilingRows, time.Now(), 24*time.Hour)
	var srv *server
	switch backend {
	case "postgres":
		dbURL, drop, err := createDatabase(ctx, cfg.DatabaseURL)
		if err != nil {
			return row, err
		}
		defer drop()
		if srv, err = startServer(ctx, binary, logPath, "DATABASE_URL="+dbURL); err != nil {
			return row, err
		}
		row.CeilingName = "binary COPY"
		c0 := takeCPU(0)
		row.Ceiling, err = pgCopyCeilingOf(ctx, dbURL, h)
		row.CeilingCPU, _ = cpuPer(c0, takeCPU(0), h.n)
		row.CeilingCPU.Server = 0 // the bench's pgx client, not a server
	case "sqlite":
		row.CeilingName = "bulk tx"
		c0 := takeCPU(0)
		row.Ceiling, err = sqliteCeilingOf(ctx, filepath.Join(tmp, "ceiling", "ceiling.db"), h)
		c1 := takeCPU(0)
		// SQLite runs inside the bench process here.
		row.CeilingCPU = perUnit{DB: (c1.loadgen - c0.loadgen) / time.Duration(max(h.n, 1))}
		if err == nil {
			srv, err = startServer(ctx, binary, logPath, "DATA_DIR="+filepath.Join(tmp, "data"))
		}
	}
	if err != nil {
		return row, err
	}
	defer srv.stop()
	logf("thermowatt on %s: %s ceiling %.0f rows/s", backend, row.CeilingName, row.Ceiling)

	a := api{url: srv.URL, c: newClient(8)}
	fleet, batchIDs := names("fleet", cfg.Fleet), names("batch", cfg.BatchClients)
	tokens, err := a.devices(ctx, append(fleet, batchIDs...))
	if err != nil {
		return row, err
	}
	base := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	warmUp := make([]request, len(tokens))
	for i, id := range append(fleet, batchIDs...) {
		warmUp[i] = postReadings(srv.addr(), tokens[i], id, base.Add(-time.Hour), 1)
	}
	if err := warm(ctx, srv.addr(), warmUp, http.StatusCreated); err != nil {
		return row, err
	}
	workers := make([]request, cfg.Fleet)
	for i := range workers {
		workers[i] = postReadings(srv.addr(), tokens[i], fleet[i], base, 1)
	}
	tag := backend
	if binary != cfg.Binary {
		tag += "-bench-bin"
	}
	wait := profile(ctx, cfg.Config, srv, fmt.Sprintf("peers-single-%s-%d", tag, round), logf)
	// The materializer's lag (/metrics) is sampled every second through
	// both phases: it must fall behind by seconds at most, and catch up
	// once the load stops.
	stopLag := make(chan struct{})
	lag := a.watchLag(ctx, stopLag)
	c0 := takeCPU(srv.pid())
	row.Single = run(ctx, srv.addr(), workers, http.StatusCreated, cfg.Duration)
	row.SingleCPU, row.Busy = cpuPer(c0, takeCPU(srv.pid()), row.Single.Requests)
	if backend == "sqlite" {
		row.SingleCPU.DB = 0 // SQLite is in the server; PostgreSQL's processes are others' here
	}
	wait()
	if row.Single.Errors > 0 {
		return row, fmt.Errorf("single: %d errors, first: %s", row.Single.Errors, row.Single.FirstErr)
	}
	logf("thermowatt on %s single: %.0f requests/s, p99 %s, CPU per request server %s + database %s",
		backend, row.Single.perSecond(), ms(row.Single.quantile(0.99)), row.SingleCPU.Server, row.SingleCPU.DB)

	workers = make([]request, cfg.BatchClients)
	for i := range workers {
		workers[i] = postReadings(srv.addr(), tokens[cfg.Fleet+i], batchIDs[i], base, cfg.PeerBatch)
	}
	wait = profile(ctx, cfg.Config, srv, fmt.Sprintf("peers-batch-%s-%d", tag, round), logf)
	c0 = takeCPU(srv.pid())
	row.Batch = run(ctx, srv.addr(), workers, http.StatusCreated, cfg.Duration)
	row.BatchCPU, row.BatchBusy = cpuPer(c0, takeCPU(srv.pid()), row.Batch.Requests*cfg.PeerBatch)
	if backend == "sqlite" {
		row.BatchCPU.DB = 0
	}
	wait()
	if row.Batch.Errors > 0 {
		return row, fmt.Errorf("batch: %d errors, first: %s", row.Batch.Errors, row.Batch.FirstErr)
	}
	logf("thermowatt on %s batch: %.0f readings/s, p99 %s; server peak resident size %s", backend,
		row.Batch.perSecond()*float64(cfg.PeerBatch), ms(row.Batch.quantile(0.99)), mb(srv.PeakRSS()))
	close(stopLag)
	worst := <-lag
	if took, err := a.caughtUp(ctx, 5*time.Minute); err != nil {
		logf("  materializer under the load: at most %s; not caught up: %v", worst, err)
	} else {
		logf("  materializer under the load: at most %s; nothing pending %.0f s after the load", worst, took.Seconds())
	}
	return row, nil
}

// warm sends one request per worker, 32 at a time, before anything is
// measured: InfluxDB checks a user's password with bcrypt on its first
// request (then caches it), and creates a series on its first point; the
// first request of 200 new users at once took it past its 10 s write
// timeout on a busy machine. Both servers get the same warm-up.
func warm(ctx context.Context, addr string, workers []request, want int) error {
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(workers))
	for _, next := range workers {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			c := &conn{addr: addr}
			defer c.close()
			var err error
			for try := 0; try < 5; try++ {
				var status int
				if status, err = c.do(next(0)); err == nil && status == want {
					errs <- nil
					return
				} else if err == nil {
					err = fmt.Errorf("warm-up: status %d, want %d", status, want)
				}
				time.Sleep(time.Second)
			}
			errs <- err
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			return err
		}
	}
	return ctx.Err()
}

// printPeers prints one round: rates, latency, the ratios the issue asks
// for (to InfluxDB, to the backend's own bulk-load ceiling) and CPU per
// reading (server + database).
func printPeers(w io.Writer, rows []peerRow, batch int) {
	var influx *peerRow
	for i := range rows {
		if strings.HasPrefix(rows[i].Name, "InfluxDB") {
			influx = &rows[i]
		}
	}
	ratio := func(v, of float64) string {
		if of <= 0 || v <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f", v/of)
	}
	us := func(d time.Duration) string {
		if d <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tsingle req/s\tp50 ms\tp99 ms\t÷ InfluxDB\tCPU µs/req (srv+db)\tbatch readings/s (%d/req)\t÷ InfluxDB\tbulk ceiling rows/s\t÷ ceiling\tCPU µs/reading (srv+db)\tceiling CPU µs/row\tbusy %%\t\n", batch)
	for _, r := range rows {
		single := r.Single.perSecond()
		var influxSingle, influxBatch float64
		if influx != nil {
			influxSingle, influxBatch = influx.Single.perSecond(), influx.Batch.perSecond()*float64(batch)
		}
		batchRate, ceiling, ceilingCPU := "—", "—", "—"
		var br float64
		if r.HasBatch {
			br = r.Batch.perSecond() * float64(batch)
			batchRate = fmt.Sprintf("%.0f", br)
		}
		if r.Ceiling > 0 {
			ceiling = fmt.Sprintf("%.0f (%s)", r.Ceiling, r.CeilingName)
			ceilingCPU = us(r.CeilingCPU.total())
		}
		cpu := func(p perUnit) string {
			if p.total() <= 0 {
				return "—"
			}
			return fmt.Sprintf("%s+%s", us(p.Server), us(p.DB))
		}
		busy := "—"
		if r.Busy >= 0 {
			busy = fmt.Sprintf("%.0f", r.Busy*100)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, single,
			float64(r.Single.quantile(0.5))/1e6, float64(r.Single.quantile(0.99))/1e6, ratio(single, influxSingle), cpu(r.SingleCPU),
			batchRate, ratio(br, influxBatch), ceiling, ratio(br, r.Ceiling), cpu(r.BatchCPU), ceilingCPU, busy)
	}
	tw.Flush()
}
