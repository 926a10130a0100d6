package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// victoriaMetrics is VictoriaMetrics (Debian's `victoria-metrics`
// package) run as a child process with its own data folder and a private
// loopback port, for the peer comparison. It takes InfluxDB's line
// protocol at /write, so the load is InfluxDB's, byte for byte. It
// answers a write once the points are in its in-memory buffers, which it
// flushes to disk about every second: an acknowledged point is not yet
// durable (a power cut loses up to a second of them), unlike thermowatt's
// and InfluxDB's, which the table says beside its row. It has one user
// for all writers (-httpAuth.*), not one per device.
type victoriaMetrics struct {
	cmd    *exec.Cmd
	addr   string
	exited chan error
}

// victoriaMissing says what to install when victoria-metrics is not on
// the PATH.
const victoriaMissing = "victoria-metrics not found: install it with `apt-get install victoria-metrics` (Debian's package), or set BENCH_VICTORIA to its binary"

const victoriaUser, victoriaPassword = "bench", "bench-write-password"

func startVictoria(ctx context.Context, binary, dir, logPath string) (*victoriaMetrics, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The readings are 30 days old: the default retention (one month)
	// would drop them.
	cmd := exec.Command(binary, "-storageDataPath="+filepath.Join(dir, "data"),
		fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port), "-retentionPeriod=100y",
		"-httpAuth.username="+victoriaUser, "-httpAuth.password="+victoriaPassword)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	vm := &victoriaMetrics{cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port), exited: make(chan error, 1)}
	go func() { vm.exited <- cmd.Wait(); logFile.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+vm.addr+"/health", nil)
		req.SetBasicAuth(victoriaUser, victoriaPassword)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return vm, nil
			}
		}
		select {
		case err := <-vm.exited:
			return nil, fmt.Errorf("victoria-metrics exited at start: %v (log: %s)", err, logPath)
		case <-ctx.Done():
			vm.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			vm.stop()
			return nil, fmt.Errorf("victoria-metrics did not answer /health within 60 s (log: %s)", logPath)
		}
	}
}

func (vm *victoriaMetrics) pid() int { return vm.cmd.Process.Pid }

func (vm *victoriaMetrics) stop() {
	_ = vm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-vm.exited:
	case <-time.After(30 * time.Second):
		_ = vm.cmd.Process.Kill()
		<-vm.exited
	}
}

// victoriaBinary is BENCH_VICTORIA, else victoria-metrics on the PATH; ""
// leaves VictoriaMetrics out ("none" too).
func victoriaBinary(logf func(string, ...any)) string {
	bin := os.Getenv("BENCH_VICTORIA")
	if bin == "none" {
		logf("BENCH_VICTORIA=none: VictoriaMetrics left out")
		return ""
	}
	if bin == "" {
		bin, _ = exec.LookPath("victoria-metrics")
	}
	if bin == "" {
		logf("%s; its row is left out", victoriaMissing)
		return ""
	}
	// Debian's build prints no version: the package's is the one to cite.
	v, _ := exec.Command(bin, "-version").CombinedOutput()
	if version := strings.TrimSpace(string(v)); version != "" {
		logf("VictoriaMetrics: %s (%s)", version, bin)
	} else {
		logf("VictoriaMetrics: %s (it prints no version; see its package's)", bin)
	}
	return bin
}

// peerVictoria measures VictoriaMetrics under the load InfluxDB gets.
func peerVictoria(ctx context.Context, cfg peersConfig, binary string, logf func(string, ...any)) (peerRow, error) {
	dir, err := os.MkdirTemp("", "thermowatt-bench-victoria-")
	if err != nil {
		return peerRow{}, err
	}
	defer os.RemoveAll(dir)
	vm, err := startVictoria(ctx, binary, dir, filepath.Join(os.TempDir(), "thermowatt-bench-victoria.log"))
	if err != nil {
		return peerRow{}, err
	}
	defer vm.stop()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(victoriaUser+":"+victoriaPassword))
	fleet, batchIDs := names("fleet", cfg.Fleet), names("batch", cfg.BatchClients)
	row := peerRow{Name: "VictoriaMetrics (acks before its data is on disk)", HasBatch: true}
	base := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	warmUp := make([]request, 0, len(fleet)+len(batchIDs))
	for _, id := range append(fleet, batchIDs...) {
		warmUp = append(warmUp, influxWrites(vm.addr, auth, id, base.Add(-time.Hour), 1))
	}
	if err := warm(ctx, vm.addr, warmUp, http.StatusNoContent); err != nil {
		return row, err
	}
	workers := make([]request, cfg.Fleet)
	for i := range workers {
		workers[i] = influxWrites(vm.addr, auth, fleet[i], base, 1)
	}
	c0 := takeCPU(vm.pid())
	row.Single = run(ctx, vm.addr, workers, http.StatusNoContent, cfg.Duration)
	row.SingleCPU, row.Busy = cpuPer(c0, takeCPU(vm.pid()), row.Single.Requests)
	row.SingleCPU.DB = 0 // nothing of PostgreSQL's is VictoriaMetrics'
	if row.Single.Errors > 0 {
		return row, fmt.Errorf("single: %d errors, first: %s", row.Single.Errors, row.Single.FirstErr)
	}
	logf("victoriametrics single: %.0f requests/s, p99 %s, %s CPU per request", row.Single.perSecond(), ms(row.Single.quantile(0.99)), row.SingleCPU.Server)
	workers = make([]request, cfg.BatchClients)
	for i := range workers {
		workers[i] = influxWrites(vm.addr, auth, batchIDs[i], base, cfg.PeerBatch)
	}
	c0 = takeCPU(vm.pid())
	row.Batch = run(ctx, vm.addr, workers, http.StatusNoContent, cfg.Duration)
	row.BatchCPU, row.BatchBusy = cpuPer(c0, takeCPU(vm.pid()), row.Batch.Requests*cfg.PeerBatch)
	row.BatchCPU.DB = 0
	if row.Batch.Errors > 0 {
		return row, fmt.Errorf("batch: %d errors, first: %s", row.Batch.Errors, row.Batch.FirstErr)
	}
	logf("victoriametrics batch: %.0f readings/s, p99 %s", row.Batch.perSecond()*float64(cfg.PeerBatch), ms(row.Batch.quantile(0.99)))
	return row, nil
}
