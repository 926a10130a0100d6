package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/httpapi"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/logbuffer"
	"github.com/thermowatt/thermowatt/internal/metrics"
	"github.com/thermowatt/thermowatt/internal/retention"
	"github.com/thermowatt/thermowatt/internal/store"
)

func init() {
	commands["serve"] = command{summary: "run the HTTP service (PORT, DATABASE_URL, DATA_DIR, ADMIN_TOKEN)", run: runServe}
}

// groupCommitRows bounds the readings of one shared commit: four full
// batches from devices, and small enough to keep one commit short.
const groupCommitRows = 2000

// A verified token is remembered this long: longer than the firmware's
// five-minute interval, so that a device's next reading finds it; a
// revocation removes it at once whatever its age. The bound on entries
// (~200 bytes each) caps the cache at ~20 MB for the largest fleets one
// instance serves.
const (
	tokenCacheTTL     = 10 * time.Minute
	tokenCacheEntries = 100_000
)

// revocationWatcher is a store that reports revoked tokens (both backends).
type revocationWatcher interface {
	WatchRevocations(ctx context.Context, forget func(tokenID string), live func(bool))
}

func runServe(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "serve")
	demo := fs.Bool("demo", false, "also run simulated devices that send readings through this server's API")
	link := fs.Bool("dashboard-link", false, "print a dashboard URL that signs in with a fresh reader token (revoking the one printed at the previous start)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	// stdout: what Render keeps. Lines are written out every 200 ms rather
	// than one write call per request (a few % of the CPU of a request);
	// a crash loses at most the last 200 ms of log lines, never readings.
	logOut := logbuffer.New(e.stdout, 200*time.Millisecond)
	defer logOut.Close() // registered first, so it runs last: after Shutdown and "stopped"
	logger := slog.New(slog.NewJSONHandler(logOut, nil))

	// Only serve creates a missing PostgreSQL database: a command that
	// opens the database for a moment must not make an empty one.
	if cfg.DatabaseURL != "" {
		if err := ensureDatabase(ctx, withPoolDefaults(cfg.DatabaseURL, 0)); err != nil {
			return err
		}
	}
	st, where, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	logger.Info("database ready", "store", where)

	if err := bootstrapAdmin(ctx, e, cfg, st); err != nil {
		return err
	}

	// One interval: each device's expected interval is its effective
	// interval_s. A database from before that rule, or a follow-up that
	// failed, is put right in the background (a no-op when all agree).
	fctx, stopFollow := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		if err := store.FollowIntervals(fctx, st); err != nil && fctx.Err() == nil {
			logger.Error("device intervals not aligned with their interval_s settings; retried at the next start or settings change", "err", err)
		}
	}()
	defer func() { stopFollow(); <-followed }() // before the store closes

	// Concurrent requests share commits. SQLite has one writer, so one
	// committer. On PostgreSQL each commit costs ~250 µs of database CPU
	// (WAL write, fsync, executor start-up) and each reading ~8 µs, so
	// fewer, fuller commits are cheaper: with 300 devices posting at once,
	// 4 committers made commits of ~5 readings and 2 of twice that, for
	// 79 and 63 µs of PostgreSQL CPU per request (docs/benchmarks.md). Two,
	// not one, so that a slow fsync does not stall every request.
	workers := 2
	if cfg.DatabaseURL == "" {
		workers = 1
	}
	// DB_TIMEOUT bounds each shared commit: a stalled database is a 503, not a hang.
	writer := ingest.NewGroupCommitter(st, workers, groupCommitRows, cfg.Limits.DBTimeout)
	defer writer.Close() // after Shutdown below: no request is left to queue

	// Readings are partitioned by week on PostgreSQL: the weeks retention
	// keeps (for backfills) once, the weeks ahead now and daily (safe with
	// several instances at once). In the background: moving the past
	// partition's bound validates a constraint by a scan of it, which on a
	// large migrated table must not hold up the start.
	if p, ok := st.(interface {
		PartitionHistory(ctx context.Context, since, now time.Time) error
		MaintainPartitions(context.Context, func(error))
	}); ok {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			now := time.Now()
			if err := p.PartitionHistory(pctx, now.AddDate(0, 0, -cfg.Ops.RetentionDays), now); err != nil && pctx.Err() == nil {
				logger.Error("partitions of past weeks not created; backfilled readings of those weeks go to the past or DEFAULT partition", "err", err)
			}
			p.MaintainPartitions(pctx, func(err error) {
				logger.Error("partitions of readings not created; retried in a day, readings meanwhile go to the DEFAULT partition", "err", err)
			})
		}()
	}

	// The roll-ups of the hours ingest marked, recomputed in the
	// background (store.RunMaterializer); safe with several instances.
	// Reads are exact meanwhile: they compute the hours still pending.
	mctx, stopMaterializer := context.WithCancel(ctx)
	materialized := make(chan struct{})
	go func() {
		defer close(materialized)
		store.RunMaterializer(mctx, st, store.DefaultMaterializer, logger)
	}()
	defer func() { stopMaterializer(); <-materialized }()

	// Old days of readings compacted into blocks in the background
	// (store.RunCompactor), which also compacts a database upgraded from
	// before compaction; safe with several instances.
	if c, ok := st.(store.Compactor); ok && cfg.Ops.CompactionAge > 0 {
		cctx, stopCompactor := context.WithCancel(ctx)
		compacted := make(chan struct{})
		go func() {
			defer close(compacted)
			store.RunCompactor(cctx, c, store.CompactorOptions{Age: cfg.Ops.CompactionAge}, logger)
		}()
		defer func() { stopCompactor(); <-compacted }()
	}

	// Metrics and the alert check on a ticker (alerts.go).
	m, policy := metrics.New(), policyOf(cfg)
	m.WatchStore(st, policy.MissedIntervals, time.Now)
	defer startAlerts(ctx, cfg, st, m, logger)()

	verifier := auth.NewVerifier(st, cfg.AdminToken)
	if w, ok := st.(revocationWatcher); ok {
		// Verified tokens are remembered while every revocation is heard
		// (PostgreSQL: LISTEN/NOTIFY across instances; SQLite: this
		// process), so a device's requests skip the token query.
		verifier.EnableCache(tokenCacheTTL, tokenCacheEntries)
		wctx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() { defer close(watched); w.WatchRevocations(wctx, verifier.Forget, verifier.SetRevocationsLive) }()
		defer func() { stopWatch(); <-watched }()
	}
	handler := httpapi.NewServer(httpapi.Deps{
		Store:    st,
		Writer:   writer,
		Verifier: verifier,
		Logger:   logger,
		// PUBLIC_READ: reads without a token (a LAN dashboard).
		PublicRead: cfg.PublicRead,
		Metrics:    m, Policy: policy, MetricsToken: cfg.Ops.MetricsToken,
		Limits: cfg.Limits,
		// POST /api/alerts/check and /api/retention/run: the cron jobs' work
		// for an admin with only the service's URL.
		Alerts:    newChecker(cfg, st, logger),
		Retention: retention.Policy{Days: cfg.Ops.RetentionDays, RawDays: cfg.Ops.RawRetentionDays},
		// OTA_PUBLIC_KEYS: only releases the fleet's devices accept.
		OTAPublicKeys: cfg.OTAPublicKeys,
	})
	// MAX_CONNS, MAX_CONNS_IP: no client can hold every connection, and
	// connections never take the descriptors the database and files need.
	ln, flushRefusals, err := listen(cfg, logger, m)
	if err != nil {
		return err
	}
	defer flushRefusals() // after Shutdown: no connection is accepted any more
	srv := &http.Server{
		Handler: handler,
		// A slow or stalled client must not hold a connection forever
		// (READ_HEADER_TIMEOUT, READ_TIMEOUT, WRITE_TIMEOUT, IDLE_TIMEOUT).
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		ReadTimeout:       cfg.Limits.ReadTimeout,
		WriteTimeout:      cfg.Limits.WriteTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(e.stdout, "thermowatt listening on http://localhost:%d (%s)\n", port, where)
	logger.Info("listening", "port", port)
	if *link {
		if err := printDashboardLink(ctx, e, cfg, st, port); err != nil {
			return err
		}
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if *demo {
		if stopDemo, err := startDemo(ctx, e.stdout, st, fmt.Sprintf("http://127.0.0.1:%d", port), logger); err != nil {
			logger.Error("demo not started", "err", err)
		} else {
			defer stopDemo()
		}
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Finish the requests in flight: each is answered only after its
	// readings are committed, so nothing acknowledged is lost.
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// bootstrapAdmin makes sure somebody can administer a fresh installation:
// without ADMIN_TOKEN and with no admin token stored yet, it creates one,
// stores only its hash and prints it this once.
func bootstrapAdmin(ctx context.Context, e env, cfg config.Config, st store.Store) error {
	if cfg.AdminToken != "" {
		return nil
	}
	n, err := st.CountTokens(ctx, thermowatt.ScopeAdmin)
	if err != nil {
		return fmt.Errorf("counting admin tokens: %w", err)
	}
	if n > 0 {
		return nil
	}
	secret, t, err := auth.New(thermowatt.ScopeAdmin, "", time.Now())
	if err != nil {
		return err
	}
	if err := st.CreateToken(ctx, t); err != nil {
		return fmt.Errorf("storing the first admin token: %w", err)
	}
	fmt.Fprintf(e.stdout, `
First start: created an admin token. It is shown only this once; keep it:

    %s

Register a device:
    curl -X POST %s/api/devices -H "Authorization: Bearer %s" -d '{"id":"esp32-node-01"}'
or, with the thermowatt binary, from this machine or any other:
    export THERMOWATT_URL=%s THERMOWATT_TOKEN=%s
    thermowatt device add esp32-node-01

`, secret, cfg.PublicURL, secret, cfg.PublicURL, secret)
	return nil
}
