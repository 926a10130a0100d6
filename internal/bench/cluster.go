package bench

import (
	"fmt"
	"slices"

	"github.com/thermowatt/thermowatt/internal/pgcluster"
)

// postgresRoot is the postmaster of the private cluster the run started,
// 0 when it uses BENCH_DATABASE_URL: takeCPU then counts only that
// cluster's processes as PostgreSQL's, not other people's servers.
var postgresRoot int

// usePrivateCluster gives cfg a PostgreSQL to create its databases in when
// BENCH_DATABASE_URL is not set and PostgreSQL is among the backends: a
// private cluster with PostgreSQL's default settings (autovacuum on, fsync
// on, synchronous_commit on), as production runs, rather than the
// machine's shared server (autovacuum off there, which bloats the tables
// the materializer rewrites). It returns the function that stops the
// cluster and removes it.
func usePrivateCluster(cfg *Config, logf func(string, ...any)) (func(), error) {
	if cfg.DatabaseURL != "" || !slices.Contains(cfg.Backends, "postgres") {
		return func() {}, nil
	}
	url, stop, err := privateCluster(logf)
	if err != nil {
		return nil, err
	}
	cfg.DatabaseURL = url
	return stop, nil
}

// privateCluster starts a private cluster with PostgreSQL's default
// settings and returns its URL and the function that stops and removes it.
func privateCluster(logf func(string, ...any)) (string, func(), error) {
	c, err := pgcluster.Start()
	if err != nil {
		return "", nil, fmt.Errorf("starting a private PostgreSQL cluster: %w (or set BENCH_DATABASE_URL to a server to create the bench's databases in)", err)
	}
	if postgresRoot, err = c.Postmaster(); err != nil {
		c.Close()
		return "", nil, err
	}
	logf("PostgreSQL: a private cluster (%s) with the default settings (autovacuum on); BENCH_DATABASE_URL names another server", c.Dir())
	return c.URL(), func() {
		postgresRoot = 0
		c.Close()
	}, nil
}

// isPostgres says whether pid is one of the PostgreSQL processes a run
// counts: the private cluster's postmaster and its children, or, without
// one, every process named postgres.
func isPostgres(pid, parent int) bool {
	return postgresRoot == 0 || pid == postgresRoot || parent == postgresRoot
}
