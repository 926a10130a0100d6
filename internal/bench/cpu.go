package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSnapshot is where the machine's CPU time has gone so far, split into
// the parts of the benchmark: on a shared two-core machine it tells what
// limited a phase (the server, PostgreSQL, the load generator, or other
// processes).
type cpuSnapshot struct {
	at              time.Time
	server, loadgen time.Duration
	postgres        map[int]time.Duration // by pid: backends come and go
	busy, total     time.Duration         // whole machine, all CPUs
}

// clockTick is USER_HZ, the unit of /proc times (100 on Linux).
const clockTick = 100

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTick }

func takeCPU(serverPID int) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), postgres: map[int]time.Duration{}}
	s.server = procCPU(serverPID)
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.loadgen = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if comm, err := os.ReadFile(d + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			pid, _ := strconv.Atoi(filepath.Base(d))
			if isPostgres(pid, parentOf(pid)) {
				s.postgres[pid] = procCPU(pid)
			}
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			s.total += ticks(n)
			if i != 3 && i != 4 { // idle, iowait
				s.busy += ticks(n)
			}
		}
	}
	return s
}

// parentOf is a process's parent's pid; 0 once it has gone.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ") // comm may hold spaces
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procCPU is the user+system time of a process; 0 once it has gone.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), ") ") // comm may hold spaces
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ticks(u + st)
}

// cpuShare says how many cores each part used between a and b, and the
// CPU time each spent per unit of work (n units, such as requests): on a
// machine shared with other work the rate depends on what the others
// take, the cost per unit much less.
func cpuShare(a, b cpuSnapshot, n int, unit string) string {
	wall := b.at.Sub(a.at).Seconds()
	cores := func(d time.Duration) float64 { return d.Seconds() / wall }
	busy := float64(b.busy-a.busy) / float64(b.total-a.total)
	// PostgreSQL is every process of the run's private cluster (without
	// one, every postgres process: the backends of anyone else's tests on
	// a shared server too): its backends for the server and the bench and
	// its background workers, autovacuum among them. A backend that started during the
	// phase counts from zero; one that ended is left out.
	var pgTime time.Duration
	for pid, t := range b.postgres {
		pgTime += t - a.postgres[pid]
	}
	server, pg, lg := cores(b.server-a.server), cores(pgTime), cores(b.loadgen-a.loadgen)
	all := busy * float64(numCPU())
	line := fmt.Sprintf("CPU in cores: server %.2f, postgres %.2f, load generator %.2f, other processes %.2f; machine %.0f%% busy",
		server, pg, lg, max(all-server-pg-lg, 0), busy*100)
	if n > 0 {
		per := func(c float64) float64 { return c * wall / float64(n) * 1e6 }
		line += fmt.Sprintf("\n#   CPU per %s: server %.0f µs, postgres %.0f µs, load generator %.0f µs; all three on 2 dedicated cores: ~%.0f per second",
			unit, per(server), per(pg), per(lg), 2/(per(server+pg+lg)/1e6))
	}
	return line
}

func numCPU() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 1
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cpu") && !strings.HasPrefix(line, "cpu ") {
			n++
		}
	}
	return max(n, 1)
}
