package testdb

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Cluster is a private PostgreSQL server that a test may stop and start,
// for fault tests. It never touches the shared server of TEST_DATABASE_URL:
// it has its own data directory, port and socket directory, and is stopped
// and removed at cleanup.
type Cluster struct {
	t    testing.TB
	bin  string // directory of initdb and pg_ctl
	dir  string // owned by the user the server runs as
	port int
	asPG bool // running as root: run the server as the postgres user
}

// StartCluster initialises and starts a private cluster. Without the
// PostgreSQL server binaries it skips the test, except in CI, where every
// suite must run (.ci/run installs PostgreSQL).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := serverBinDir()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("initdb not found (looked in pg_config --bindir and /usr/lib/postgresql/*/bin); CI requires the fault tests to run")
		}
		t.Skip("fault test skipped: initdb not found (install the PostgreSQL server, e.g. apt-get install postgresql)")
	}
	c := &Cluster{t: t, bin: bin, asPG: os.Geteuid() == 0}
	// Not t.TempDir(): its parents are private to the test's user, and
	// the server may run as another (initdb refuses to run as root).
	dir, err := os.MkdirTemp("", "thermowatt-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if c.asPG {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.port = freePort(t)
	c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	c.Start()
	t.Cleanup(func() {
		c.signal(syscall.SIGCONT) // a frozen server cannot stop
		c.pgctl("stop", "-m", "immediate")
	})
	return c
}

// URL is a connection URL for the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	// fsync off: the tests kill the server process, not the machine, and
	// what the server wrote before it died is in the kernel's page cache
	// either way; syncing would only slow a shared machine down.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", c.port, c.dir)
	if err := c.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "server.log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("pg_ctl start: %v\n%s", err, log)
	}
}

// Stop kills the server at once, as a crash or a failover would: no
// checkpoint, every connection cut mid-flight.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.pgctl("stop", "-w", "-m", "immediate"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v", err)
	}
}

// Freeze stops every process of the server (SIGSTOP): connections stay
// open and new ones are accepted by the kernel, but nothing answers, as
// with a hung server or a route that drops packets. Thaw resumes it.
func (c *Cluster) Freeze() { c.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (c *Cluster) Thaw() { c.signal(syscall.SIGCONT) }

// signal sends sig to the postmaster and its children (the backends), all
// found by pid: never by name, which would reach other people's servers.
//
// The postmaster is signalled first and its children looked up after, twice:
// a backend forked while the children were being listed would otherwise
// escape a freeze and go on answering, and the "hung" server would still
// store readings on one connection.
func (c *Cluster) signal(sig syscall.Signal) {
	c.t.Helper()
	pm := c.postmaster()
	_ = syscall.Kill(pm, sig)
	for range 2 {
		for _, pid := range children(pm) {
			_ = syscall.Kill(pid, sig)
		}
	}
}

// postmaster is the pid of the cluster's postmaster.
func (c *Cluster) postmaster() int {
	c.t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		c.t.Fatalf("postmaster.pid: %v", err)
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		c.t.Fatalf("postmaster.pid: %q", first)
	}
	return pm
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var pids []int
	parent := strconv.Itoa(pid)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ")".
		_, rest, ok := strings.Cut(string(b), ") ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == parent {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			pids = append(pids, child)
		}
	}
	return pids
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) pgctl(args ...string) error {
	_, err := c.exec("pg_ctl", append([]string{"-D", c.data()}, args...)...)
	return err
}

func (c *Cluster) run(prog string, args ...string) {
	c.t.Helper()
	if out, err := c.exec(prog, args...); err != nil {
		c.t.Fatalf("%s: %v\n%s", prog, err, out)
	}
}

func (c *Cluster) exec(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.asPG {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func serverBinDir() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin") // Debian keeps them off PATH
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))       // the newest version (one digit or two: good enough)
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
