// Package server is `thermowatt serve` as one value: New builds every
// part (group commit, metrics, token verifier, the HTTP API behind its
// limits, the listening socket), Start runs the background jobs
// (jobs.go) and serves, and Shutdown stops them all in the one order
// that loses nothing acknowledged. The store is given: it is opened
// before New and closed after Shutdown by the caller.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/thermowatt/thermowatt/internal/alerts"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/connlimit"
	"github.com/thermowatt/thermowatt/internal/httpapi"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/metrics"
	"github.com/thermowatt/thermowatt/internal/retention"
	"github.com/thermowatt/thermowatt/internal/store"
)

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

// Deps are what the server is built on besides its configuration.
type Deps struct {
	// Store is open and migrated; it must stay open until Shutdown has
	// returned.
	Store store.Store
	// Logger receives the service's log (JSON lines on stdout in serve).
	Logger *slog.Logger
	// Demo runs simulated devices against the server's own port
	// (`serve --demo`), printing what happens to them on Out.
	Demo bool
	Out  io.Writer
}

// Server is one running `thermowatt serve`.
type Server struct {
	cfg     config.Config
	st      store.Store
	log     *slog.Logger
	out     io.Writer
	demo    bool
	metrics *metrics.Metrics
	policy  alerts.Policy
	// verifier is the one every part shares: the HTTP API reads tokens
	// through it (and its database gate), the revocation watcher tells
	// it which to forget.
	verifier      *auth.Verifier
	writer        *ingest.GroupCommitter
	handler       http.Handler
	ln            *connlimit.Listener
	flushRefusals func()
	http          *http.Server

	mu       sync.Mutex
	started  bool
	stopJobs context.CancelFunc
	jobsDone sync.WaitGroup
	stopDemo func()
	serving  chan struct{} // closed when Serve has returned
	serveErr error         // what Serve returned, once serving is closed

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds the server and opens its port (PORT; 0 picks a free one);
// nothing runs until Start. Once New has succeeded, Shutdown must be
// called, whether or not Start was.
func New(cfg config.Config, d Deps) (*Server, error) {
	if d.Store == nil {
		return nil, errors.New("server.New: no store given")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Out == nil {
		d.Out = io.Discard
	}
	s := &Server{cfg: cfg, st: d.Store, log: d.Logger, out: d.Out, demo: d.Demo,
		metrics: metrics.New(), policy: policyOf(cfg), serving: make(chan struct{})}
	s.metrics.WatchStore(s.st, s.policy.MissedIntervals, time.Now)

	// Verified tokens are remembered only while every revocation is heard
	// (PostgreSQL: LISTEN/NOTIFY across instances; SQLite: this process):
	// the revocations job (jobs.go) keeps the cache told.
	var opts []auth.Option
	if _, ok := s.st.(store.RevocationWatcher); ok {
		opts = append(opts, auth.WithCache(tokenCacheTTL, tokenCacheEntries))
	}
	s.verifier = auth.NewVerifier(s.st, cfg.AdminToken, opts...)

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
	s.writer = ingest.NewGroupCommitter(s.st, workers, groupCommitRows, cfg.Limits.DBTimeout)

	s.handler = httpapi.NewServer(httpapi.Deps{
		Store:    s.st,
		Writer:   s.writer,
		Verifier: s.verifier,
		Logger:   s.log,
		// PUBLIC_READ: reads without a token (a LAN dashboard).
		PublicRead: cfg.PublicRead,
		Metrics:    s.metrics, Policy: s.policy, MetricsToken: cfg.Ops.MetricsToken,
		Limits: cfg.Limits,
		// POST /api/alerts/check and /api/retention/run: the cron jobs' work
		// for an admin with only the service's URL.
		Alerts:    NewChecker(cfg, s.st, s.log),
		Retention: retention.Policy{Days: cfg.Ops.RetentionDays, RawDays: cfg.Ops.RawRetentionDays},
		// OTA_PUBLIC_KEYS: only releases the fleet's devices accept.
		OTAPublicKeys: cfg.OTAPublicKeys,
	})

	// MAX_CONNS, MAX_CONNS_IP: no client can hold every connection, and
	// connections never take the descriptors the database and files need.
	ln, flushRefusals, err := listen(cfg, s.log, s.metrics)
	if err != nil {
		s.writer.Close()
		return nil, err
	}
	s.ln, s.flushRefusals = ln, flushRefusals
	s.http = &http.Server{
		Handler: s.handler,
		// A slow or stalled client must not hold a connection forever
		// (READ_HEADER_TIMEOUT, READ_TIMEOUT, WRITE_TIMEOUT, IDLE_TIMEOUT).
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		ReadTimeout:       cfg.Limits.ReadTimeout,
		WriteTimeout:      cfg.Limits.WriteTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler is the whole API with its limits, as the port serves it.
func (s *Server) Handler() http.Handler { return s.handler }

// Port is the TCP port the server listens on (PORT, or the one picked).
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Start runs the background jobs (jobs.go), serves the port, and then
// starts the demo devices when asked. ctx's values reach the jobs, not
// its end: they run until Shutdown, which stops them in order.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server already started")
	}
	s.started = true

	jctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopJobs = stop
	for _, j := range s.jobs() {
		s.jobsDone.Add(1)
		go func() {
			defer s.jobsDone.Done()
			// Named in goroutine profiles (PPROF=true): job=materializer...
			pprof.Do(jctx, pprof.Labels("job", j.name), j.run)
		}()
	}

	s.log.Info("listening", "port", s.Port())
	go func() {
		s.serveErr = s.http.Serve(s.ln)
		close(s.serving)
	}()

	if s.demo {
		stopDemo, err := startDemo(jctx, s.out, s.st, fmt.Sprintf("http://127.0.0.1:%d", s.Port()), s.log)
		if err != nil {
			s.log.Error("demo not started", "err", err)
		} else {
			s.stopDemo = stopDemo
		}
	}
	return nil
}

// Done is closed when the server stops serving: after Shutdown, or at
// once if serving failed (Shutdown then returns why).
func (s *Server) Done() <-chan struct{} { return s.serving }

// Shutdown stops the server, each part once nothing depends on it any
// more:
//
//  1. the demo devices, clients of this server, so that their requests
//     end while it still answers;
//  2. the HTTP server: no new connection, and the requests in flight
//     finish within ctx. Each is answered only after its readings are
//     committed, so nothing acknowledged is lost;
//  3. the group commit, which no request can queue for any more;
//  4. the report of refused connections, none being accepted any more;
//  5. the background jobs, which it waits for: the store may be closed
//     once Shutdown has returned.
//
// When ctx ends before the requests in flight do, their connections are
// closed (their clients retry) and the rest goes on; the error says so.
// Later calls return what the first one did.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	var errs []error
	if s.stopDemo != nil {
		s.stopDemo()
	}
	if s.started {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: requests still in flight after %s (SHUTDOWN_TIMEOUT): %w", s.cfg.ShutdownTimeout, err))
			s.http.Close()
		}
		<-s.serving
		if !errors.Is(s.serveErr, http.ErrServerClosed) {
			errs = append(errs, s.serveErr)
		}
	} else {
		s.ln.Close()
		close(s.serving)
	}
	s.writer.Close()
	s.flushRefusals()
	if s.stopJobs != nil {
		s.stopJobs()
		s.jobsDone.Wait()
	}
	if len(errs) == 0 {
		s.log.Info("stopped")
	}
	return errors.Join(errs...)
}
