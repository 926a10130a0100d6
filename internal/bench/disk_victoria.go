package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/thermowatt/thermowatt/internal/bench/sensordata"
)

// diskVictoria loads the set into VictoriaMetrics (Debian's
// victoria-metrics package) through its InfluxDB line-protocol endpoint,
// when it is installed: each quantity a series readings_<field> with the
// label device_id.
func diskVictoria(ctx context.Context, cfg diskConfig, s *diskSet, logf func(string, ...any)) (*diskResult, error) {
	bin := cfg.Victoria
	if bin == "" {
		bin, _ = exec.LookPath("victoria-metrics")
	}
	if bin == "" {
		logf("victoria-metrics not found (apt-get install victoria-metrics, or BENCH_VICTORIA): its line is left out")
		return nil, nil
	}
	logf("== VictoriaMetrics")
	if v, err := exec.Command(bin, "-version").CombinedOutput(); err == nil && len(bytes.TrimSpace(v)) > 0 {
		logf("VictoriaMetrics: %s (%s)", bytes.TrimSpace(v), bin)
	}
	dir, err := os.MkdirTemp(cfg.Dir, "thermowatt-disk-victoria-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(os.TempDir(), "thermowatt-bench-disk-victoria.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Retention long enough for 2025's readings (the default, a month,
	// would refuse them).
	cmd := exec.Command(bin, "-storageDataPath="+dir, "-httpListenAddr="+addr, "-retentionPeriod=10y", "-search.latencyOffset=0s", "-loggerLevel=WARN")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := client.Get(base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("victoria-metrics exited at start: %v (log %s)", err, logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("victoria-metrics did not answer /health within 60 s (log %s)", logPath)
		}
	}
	logf("  victoria-metrics in %s (log %s), retention 10 years, other settings at their defaults", dir, logPath)
	size := func() int64 { return dirSize(filepath.Join(dir, "data")) + dirSize(filepath.Join(dir, "indexdb")) }

	r := &diskResult{System: "VictoriaMetrics", Readings: s.n(), What: "data and indexdb folders"}
	logf("  loading by POST /write (InfluxDB line protocol), %d readings of one device per request, %d loaders ...", cfg.Batch, cfg.Loaders)
	bufs := make(chan []byte, cfg.Loaders)
	for range cfg.Loaders {
		bufs <- nil
	}
	r.Load, err = s.batches(ctx, cfg.Batch, cfg.Loaders, func(ctx context.Context, d int, rs []sensordata.Reading) error {
		buf := (<-bufs)[:0]
		defer func() { bufs <- buf }()
		for i := range rs {
			buf = appendLine(buf, &rs[i])
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/write?precision=s", bytes.NewReader(buf))
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("write: %s %.300s", resp.Status, body)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	logf("  loaded %s readings in %s: %.0f readings/s", thousands(int64(s.n())), dur(r.Load), float64(s.n())/r.Load.Seconds())
	if resp, err := client.Get(base + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	logf("  disk right after the load and /internal/force_flush: %s", mb(size()))
	logf("  settling %s ...", cfg.Settle)
	if err := settle(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	r.Bytes = size()
	logf("  disk after settling: %s (%s)", mb(r.Bytes), r.What)

	get := func(ctx context.Context, path string, v url.Values) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+v.Encode(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s %.300s", path, resp.Status, body)
		}
		return body, nil
	}
	unix := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	logf("  reads over the HTTP API, one at a time, the same devices and windows: raw samples by /api/v1/export; the series by /api/v1/query_range, step 1h, one query per quantity (aggr_over_time of avg, min, max over [1h]) issued together")
	err = measureReads(ctx, s, cfg.Queries, r, logf, [numReads]func(context.Context, diskQuery) (int, error){
		func(ctx context.Context, q diskQuery) (int, error) {
			body, err := get(ctx, "/api/v1/export", url.Values{"match[]": {`{__name__=~"readings_.*",device_id="` + q.device + `"}`},
				"start": {unix(q.end.Add(-24 * time.Hour))}, "end": {unix(q.end.Add(-time.Second))}})
			if err != nil {
				return 0, err
			}
			most := 0
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(nil, 16<<20)
			for sc.Scan() {
				var line struct {
					Timestamps []int64 `json:"timestamps"`
				}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					return 0, err
				}
				most = max(most, len(line.Timestamps))
			}
			return most, sc.Err()
		},
		func(ctx context.Context, q diskQuery) (int, error) {
			type answer struct {
				n   int
				err error
			}
			ch := make(chan answer, len(influxFields))
			for _, f := range influxFields {
				go func() {
					body, err := get(ctx, "/api/v1/query_range", url.Values{
						"query": {`aggr_over_time(("avg_over_time", "min_over_time", "max_over_time"), readings_` + f + `{device_id="` + q.device + `"}[1h])`},
						"start": {unix(q.end.Add(-30 * 24 * time.Hour))}, "end": {unix(q.end)}, "step": {"1h"}})
					if err != nil {
						ch <- answer{0, err}
						return
					}
					var a struct {
						Data struct {
							Result []struct {
								Values [][]any `json:"values"`
							} `json:"result"`
						} `json:"data"`
					}
					if err := json.Unmarshal(body, &a); err != nil {
						ch <- answer{0, err}
						return
					}
					n := 0
					for _, res := range a.Data.Result {
						n = max(n, len(res.Values))
					}
					ch <- answer{n, nil}
				}()
			}
			most := 0
			var first error
			for range influxFields {
				a := <-ch
				if a.err != nil && first == nil {
					first = a.err
				}
				most = max(most, a.n)
			}
			return most, first
		},
	})
	return r, err
}
