package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// adminToken is the ADMIN_TOKEN the benchmarked server is started with.
const adminToken = "bench-admin-token-0123456789"

// server is bin/thermowatt serve running as a child process, so that its
// memory is measured apart from the load generator's.
type server struct {
	cmd     *exec.Cmd
	URL     string
	exited  chan error
	peakRSS atomic.Int64 // bytes, sampled
	stopRSS chan struct{}
}

var listening = regexp.MustCompile(`listening on http://localhost:(\d+)`)

// startServer runs binary serve with extra environment (DATABASE_URL or
// DATA_DIR); its log goes to logPath.
func startServer(ctx context.Context, binary, logPath string, extra ...string) (*server, error) {
	cmd := exec.Command(binary, "serve")
	// BENCH_SERVER_CPUS (a taskset CPU list) and BENCH_SERVER_GOMAXPROCS
	// confine the server alone, for the one-small-instance figure of
	// docs/scaling.md.
	if cpus := os.Getenv("BENCH_SERVER_CPUS"); cpus != "" {
		cmd = exec.Command("taskset", "-c", cpus, binary, "serve")
	}
	if n := os.Getenv("BENCH_SERVER_GOMAXPROCS"); n != "" {
		extra = append(extra, "GOMAXPROCS="+n)
	}
	cmd.Env = append(os.Environ(),
		"PORT=0",
		"ADMIN_TOKEN="+adminToken,
		// Per-token rate limits (hardening) would cap each simulated
		// device; a few hundred stand in for millions, so they are lifted.
		"RATE_LIMIT=0",
		// Likewise the per-address connection cap: every simulated device
		// connects from this machine's address.
		"MAX_CONNS_IP=0",
		// The profiler, to admin tokens, for BENCH_PROFILE.
		"PPROF=true",
	)
	cmd.Env = append(cmd.Env, extra...)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s serve: %w (run `make build` first)", binary, err)
	}
	s := &server{cmd: cmd, exited: make(chan error, 1), stopRSS: make(chan struct{})}
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if m := listening.FindStringSubmatch(line); m != nil {
				port <- m[1]
			}
			// serve's warnings and errors (its log is on stdout) go to
			// the log file beside its stderr: what a background job
			// failed at is then on record.
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				fmt.Fprintln(logFile, line)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { s.exited <- cmd.Wait(); logFile.Close() }()
	select {
	case p := <-port:
		s.URL = "http://127.0.0.1:" + p
	case err := <-s.exited:
		return nil, fmt.Errorf("server exited at start: %v (log: %s)", err, logPath)
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("server did not start within 60 s (log: %s)", logPath)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	go s.sampleRSS()
	return s, nil
}

// sampleRSS records the largest resident size seen; VmHWM (the kernel's own
// high-water mark) is read as well at the end, and the larger is reported.
func (s *server) sampleRSS() {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stopRSS:
			return
		case <-t.C:
			if rss, _ := s.memory("VmRSS"); rss > s.peakRSS.Load() {
				s.peakRSS.Store(rss)
			}
		}
	}
}

// memory reads a field of /proc/PID/status, in bytes.
func (s *server) memory(field string) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(s.cmd.Process.Pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, s.cmd.Process.Pid)
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// PeakRSS is the server's peak resident size so far.
func (s *server) PeakRSS() int64 {
	hwm, err := s.memory("VmHWM")
	if err != nil || hwm < s.peakRSS.Load() {
		return s.peakRSS.Load()
	}
	return hwm
}

// stop sends SIGTERM and waits for a clean exit (in-flight requests finish).
func (s *server) stop() error {
	select {
	case <-s.stopRSS:
	default:
		close(s.stopRSS)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		return err
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("server did not stop within 40 s of SIGTERM; killed")
	}
}

// cpuProfile fetches a CPU profile of d from the server's profiler
// (PPROF=true serves it to admin tokens).
func (s *server) cpuProfile(ctx context.Context, d time.Duration, path string) error {
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.URL, int(d.Seconds()))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// addr is the server's host:port, for the load generator's connections.
func (s *server) addr() string { return strings.TrimPrefix(s.URL, "http://") }
