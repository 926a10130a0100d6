// Package pgcluster runs private PostgreSQL servers: each with its own
// data directory, port and socket directory, started with the settings
// its user names and otherwise PostgreSQL's defaults (autovacuum on, as
// on any production server). The fault tests (internal/testdb) stop and
// freeze them; the benchmarks and the soak measure on them rather than on
// the machine's shared server, whose settings are not production's.
package pgcluster

import (
	"errors"
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
)

// Cluster is one private server.
type Cluster struct {
	bin      string   // directory of initdb and pg_ctl
	dir      string   // owned by the user the server runs as
	port     int      // on 127.0.0.1
	settings []string // name=value, each given as -c
	asPG     bool     // running as root: the server runs as the postgres user
}

// ErrNoServer is returned by Start when the PostgreSQL server's programs
// (initdb, pg_ctl) are not installed.
var ErrNoServer = errors.New("initdb not found (looked in pg_config --bindir and /usr/lib/postgresql/*/bin): install the PostgreSQL server, e.g. apt-get install postgresql")

// Start initialises a cluster in a new temporary directory and starts it
// with settings ("name=value", e.g. "fsync=off"). Close stops it and
// removes the directory.
func Start(settings ...string) (*Cluster, error) {
	bin := BinDir()
	if bin == "" {
		return nil, ErrNoServer
	}
	c := &Cluster{bin: bin, settings: settings, asPG: os.Geteuid() == 0}
	// Not under a test's TempDir: its parents are private to the user,
	// and the server may run as another (initdb refuses to run as root).
	dir, err := os.MkdirTemp("", "thermowatt-pg-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	if c.asPG {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if c.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if out, err := c.exec("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if err := c.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// URL is a connection URL for the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Dir is the cluster's directory (its data directory is data/ in it, its
// log server.log).
func (c *Cluster) Dir() string { return c.dir }

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.port, c.dir)
	for _, s := range c.settings {
		opts += " -c " + s
	}
	if err := c.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "server.log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %w\n%s", err, log)
	}
	return nil
}

// Stop kills the server at once, as a crash or a failover would: no
// checkpoint, every connection cut mid-flight.
func (c *Cluster) Stop() error {
	if err := c.pgctl("stop", "-w", "-m", "immediate"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w", err)
	}
	return nil
}

// Close stops the server (a frozen one too) and removes its directory.
func (c *Cluster) Close() error {
	c.Signal(syscall.SIGCONT) // a frozen server cannot stop
	err := c.pgctl("stop", "-m", "immediate")
	return errors.Join(err, os.RemoveAll(c.dir))
}

// Signal sends sig to the postmaster and its children (the backends), all
// found by pid: never by name, which would reach other people's servers.
//
// The postmaster is signalled first and its children looked up after, twice:
// a backend forked while the children were being listed would otherwise
// escape a freeze (SIGSTOP) and go on answering.
func (c *Cluster) Signal(sig syscall.Signal) error {
	pm, err := c.Postmaster()
	if err != nil {
		return err
	}
	_ = syscall.Kill(pm, sig)
	for range 2 {
		for _, pid := range Children(pm) {
			_ = syscall.Kill(pid, sig)
		}
	}
	return nil
}

// Postmaster is the pid of the cluster's postmaster.
func (c *Cluster) Postmaster() (int, error) {
	raw, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("postmaster.pid: %w", err)
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("postmaster.pid: %q", first)
	}
	return pm, nil
}

// Children lists the pids whose parent is pid.
func Children(pid int) []int {
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

// BinDir is the directory of the PostgreSQL server's programs, "" when
// they are not installed.
func BinDir() string {
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
