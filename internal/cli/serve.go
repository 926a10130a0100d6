package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/logbuffer"
	"github.com/thermowatt/thermowatt/internal/server"
	"github.com/thermowatt/thermowatt/internal/store"
)

func init() {
	commands["serve"] = command{summary: "run the HTTP service (PORT, DATABASE_URL, DATA_DIR, ADMIN_TOKEN)", run: runServe}
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
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: cfg.Ops.LogLevel}))

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
	defer st.Close() // after Shutdown: the server's jobs use it until then
	if l, ok := st.(interface{ SetLogger(*slog.Logger) }); ok {
		l.SetLogger(logger) // SQLite's checkpointer: its checkpoints at LOG_LEVEL=debug
	}
	logger.Info("database ready", "store", where)
	logCitus(logger, st)

	if err := bootstrapAdmin(ctx, e, cfg, st); err != nil {
		return err
	}

	// The order in which the parts start and stop is the server's own
	// (internal/server): here only what a person at the terminal sees.
	srv, err := server.New(cfg, server.Deps{Store: st, Logger: logger, Demo: *demo, Out: e.stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "thermowatt listening on http://localhost:%d (%s)\n", srv.Port(), where)
	if *link {
		if err := printDashboardLink(ctx, e, cfg, st, srv.Port()); err != nil {
			return errors.Join(err, srv.Shutdown(context.Background())) // not started: nothing to wait for
		}
	}
	if err := srv.Start(ctx); err != nil {
		return errors.Join(err, srv.Shutdown(context.Background()))
	}
	select {
	case <-ctx.Done():
	case <-srv.Done(): // serving failed: Shutdown says why
	}
	// SHUTDOWN_TIMEOUT bounds the requests in flight, counted from here.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
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
