// Package bench is `make bench`: it starts the real server (bin/thermowatt
// serve) as a separate process on a fresh PostgreSQL database and then on a
// fresh SQLite data directory, drives it over HTTP with its own load
// generator, and prints each figure beside its ceiling and its target.
// docs/benchmarks.md explains the figures and records a run.
package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config is read from the environment (BENCH_*), so that `make bench`
// takes the same knobs as a manual run.
type Config struct {
	Binary       string        // BENCH_BIN: the server binary (default bin/thermowatt)
	DatabaseURL  string        // BENCH_DATABASE_URL: a PostgreSQL to create a throwaway database in; unset: a private cluster (cluster.go)
	Backends     []string      // BENCH_BACKENDS: postgres,sqlite
	Duration     time.Duration // BENCH_DURATION: length of each measured phase
	Rows         int           // BENCH_ROWS: readings in the table for the query phase
	QueryDevices int           // devices those readings belong to (1,000, as the issue asks)
	Fleet        int           // BENCH_DEVICES: concurrent single-reading devices
	BatchClients int           // BENCH_BATCH_CLIENTS: concurrent senders of 100-reading arrays
	QueryClients int           // BENCH_QUERY_CLIENTS: concurrent readers
	CeilingRows  int           // BENCH_COPY_ROWS: rows bulk-loaded for the CopyFrom ceiling
	ProfileDir   string        // BENCH_PROFILE: when set, a CPU profile of the server's fleet phase is written here
}

func configFromEnv() (Config, error) {
	c := Config{
		Binary:       env("BENCH_BIN", "bin/thermowatt"),
		DatabaseURL:  os.Getenv("BENCH_DATABASE_URL"),
		Backends:     strings.Split(env("BENCH_BACKENDS", "postgres,sqlite"), ","),
		QueryDevices: 1000,
		ProfileDir:   os.Getenv("BENCH_PROFILE"),
	}
	var err error
	if c.Duration, err = time.ParseDuration(env("BENCH_DURATION", "15s")); err != nil {
		return c, fmt.Errorf("BENCH_DURATION: %w", err)
	}
	for _, n := range []struct {
		name, def string
		dst       *int
	}{
		{"BENCH_ROWS", "10000000", &c.Rows},
		{"BENCH_DEVICES", "300", &c.Fleet},
		{"BENCH_BATCH_CLIENTS", "8", &c.BatchClients},
		{"BENCH_QUERY_CLIENTS", "4", &c.QueryClients},
		{"BENCH_COPY_ROWS", "500000", &c.CeilingRows},
	} {
		f, err := strconv.ParseFloat(env(n.name, n.def), 64) // accepts 1e6
		if err != nil || f < 1 {
			return c, fmt.Errorf("%s=%q: want a positive number", n.name, os.Getenv(n.name))
		}
		*n.dst = int(f)
	}
	if c.Rows < c.QueryDevices {
		return c, fmt.Errorf("BENCH_ROWS=%d: want at least one reading per device (%d)", c.Rows, c.QueryDevices)
	}
	for _, b := range c.Backends {
		if b != "postgres" && b != "sqlite" {
			return c, fmt.Errorf("BENCH_BACKENDS: %q is neither postgres nor sqlite", b)
		}
	}
	return c, nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c Config) describe() string {
	return fmt.Sprintf("duration %s per phase, %d fleet devices, %d batch clients, %d query clients, %d rows for queries, %d CopyFrom rows, GOMAXPROCS %d",
		c.Duration, c.Fleet, c.BatchClients, c.QueryClients, c.Rows, c.CeilingRows, runtime.GOMAXPROCS(0))
}
