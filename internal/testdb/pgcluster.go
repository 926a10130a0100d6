package testdb

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/thermowatt/thermowatt/internal/pgcluster"
)

// Cluster is a private PostgreSQL server that a test may stop and start,
// for fault tests. It never touches the shared server of TEST_DATABASE_URL:
// it has its own data directory, port and socket directory, and is stopped
// and removed at cleanup.
type Cluster struct {
	t testing.TB
	c *pgcluster.Cluster
}

// StartCluster initialises and starts a private cluster. Without the
// PostgreSQL server binaries it skips the test, except in CI, where every
// suite must run (.ci/run installs PostgreSQL).
//
// fsync is off: the tests kill the server process, not the machine, and
// what the server wrote before it died is in the kernel's page cache
// either way; syncing would only slow a shared machine down.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := pgcluster.Start("fsync=off", "max_connections=50")
	if errors.Is(err, pgcluster.ErrNoServer) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v; CI requires the fault tests to run", err)
		}
		t.Skipf("fault test skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Cluster{t: t, c: c}
}

// URL is a connection URL for the cluster's postgres database.
func (c *Cluster) URL() string { return c.c.URL() }

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	if err := c.c.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// Stop kills the server at once, as a crash or a failover would: no
// checkpoint, every connection cut mid-flight.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.c.Stop(); err != nil {
		c.t.Fatal(err)
	}
}

// Freeze stops every process of the server (SIGSTOP): connections stay
// open and new ones are accepted by the kernel, but nothing answers, as
// with a hung server or a route that drops packets. Thaw resumes it.
func (c *Cluster) Freeze() { c.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (c *Cluster) Thaw() { c.signal(syscall.SIGCONT) }

func (c *Cluster) signal(sig syscall.Signal) {
	c.t.Helper()
	if err := c.c.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}
