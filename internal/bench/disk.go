package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt/internal/bench/sensordata"
)

// RunDisk is `make bench-disk` (issue 20): the same sensor-like readings
// (sensordata.Default: 20 devices × 10,000, five minutes apart, in 2025)
// loaded through each system's own API, left to settle, then the disk each
// keeps per million readings, counting what grows with the data, and the
// p50/p99 of the dashboard's two reads on those old weeks: a 24 h page of
// raw readings and a 30-day hourly series. thermowatt is measured as its
// binary (bin/thermowatt serve) is, so whatever its stores do (compaction
// of old weeks included) is what is measured.
func RunDisk(ctx context.Context, out io.Writer) error {
	cfg, err := diskConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	logf := func(format string, args ...any) { fmt.Fprintf(out, "# "+format+"\n", args...) }
	set := diskSet{cfg: cfg.Data}
	logf("thermowatt bench-disk: %d devices × %d readings %s apart from %s (sensordata), %d readings per request, %d loaders; settle %s; %d queries per read, one reader",
		cfg.Data.Devices, cfg.Data.PerDevice, cfg.Data.Step, cfg.Data.Start.Format(time.RFC3339), cfg.Batch, cfg.Loaders, cfg.Settle, cfg.Queries)
	logf("machine: %s, %d CPUs, GOMAXPROCS %d; load average before the run: %s", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAvg())
	t0 := time.Now()
	set.generate()
	logf("generated %s readings in %s", thousands(int64(set.n())), dur(time.Since(t0)))

	if cfg.DatabaseURL == "" && slices.Contains(cfg.Systems, "postgres") {
		url, stop, err := privateCluster(logf)
		if err != nil {
			return err
		}
		defer stop()
		cfg.DatabaseURL = url
	}
	var results []*diskResult
	for _, system := range cfg.Systems {
		var r *diskResult
		var err error
		switch system {
		case "postgres":
			r, err = diskThermowatt(ctx, cfg, &set, "postgres", logf)
		case "sqlite":
			r, err = diskThermowatt(ctx, cfg, &set, "sqlite", logf)
		case "influxdb":
			r, err = diskInflux(ctx, cfg, &set, logf)
		case "victoriametrics":
			r, err = diskVictoria(ctx, cfg, &set, logf)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", system, err)
		}
		if r != nil {
			results = append(results, r)
		}
	}
	var codec codecFigures
	if !cfg.CurrentWeek {
		codec = diskCodec(&set, logf)
	}
	printDisk(out, results, codec)
	return nil
}

type diskConfig struct {
	Data        sensordata.Config
	Systems     []string      // DISK_SYSTEMS
	Batch       int           // DISK_BATCH: readings per request
	Loaders     int           // DISK_LOADERS: concurrent requests while loading
	Queries     int           // DISK_QUERIES: per read
	Settle      time.Duration // DISK_SETTLE: after the load, before measuring
	Timeout     time.Duration // DISK_TIMEOUT
	Dir         string        // DISK_DIR: where the files go (default the temp dir)
	DatabaseURL string        // BENCH_DATABASE_URL: a scratch database is made beside it
	Binary      string        // BENCH_BIN
	ServeEnv    []string      // DISK_SERVE_ENV: extra KEY=VALUE settings for serve, space-separated
	Influxd     string        // BENCH_INFLUXD
	Victoria    string        // BENCH_VICTORIA
	// CurrentWeek (DISK_CURRENT_WEEK=1) loads readings of the last days
	// instead, with serve's COMPACTION_AGE at 168h, so none is compacted:
	// thermowatt's bytes per reading in rows; no reads. (bench-rolling
	// measures the current week as a running fleet's compaction keeps it.)
	CurrentWeek bool
}

func diskConfigFromEnv() (diskConfig, error) {
	c := diskConfig{
		Data:        sensordata.Default(),
		Systems:     strings.Split(env("DISK_SYSTEMS", "postgres,sqlite,influxdb,victoriametrics"), ","),
		Dir:         os.Getenv("DISK_DIR"),
		DatabaseURL: os.Getenv("BENCH_DATABASE_URL"), // a private cluster when empty (RunDisk)
		Binary:      env("BENCH_BIN", "bin/thermowatt"),
		ServeEnv:    strings.Fields(os.Getenv("DISK_SERVE_ENV")),
		Influxd:     os.Getenv("BENCH_INFLUXD"),
		Victoria:    os.Getenv("BENCH_VICTORIA"),
	}
	c.CurrentWeek = os.Getenv("DISK_CURRENT_WEEK") == "1"
	perDevice := c.Data.PerDevice
	if c.CurrentWeek {
		// 6.5 days up to the last whole hour: every day ends within
		// COMPACTION_AGE=168h (diskThermowatt sets it), so none is compacted.
		perDevice = int(6.5 * 24 * float64(time.Hour) / float64(c.Data.Step))
		c.Systems = []string{"postgres", "sqlite"}
		if v := os.Getenv("DISK_SYSTEMS"); v != "" {
			c.Systems = strings.Split(v, ",")
		}
	}
	for _, n := range []struct {
		name, def string
		dst       *int
	}{
		{"DISK_DEVICES", strconv.Itoa(c.Data.Devices), &c.Data.Devices},
		{"DISK_PER_DEVICE", strconv.Itoa(perDevice), &c.Data.PerDevice},
		{"DISK_BATCH", "100", &c.Batch},
		{"DISK_LOADERS", "2", &c.Loaders},
		{"DISK_QUERIES", "200", &c.Queries},
	} {
		f, err := strconv.ParseFloat(env(n.name, n.def), 64)
		if err != nil || f < 1 {
			return c, fmt.Errorf("%s=%q: want a positive number", n.name, os.Getenv(n.name))
		}
		*n.dst = int(f)
	}
	for _, d := range []struct {
		name, def string
		dst       *time.Duration
	}{
		{"DISK_SETTLE", "90s", &c.Settle},
		{"DISK_TIMEOUT", "1h", &c.Timeout},
	} {
		v, err := time.ParseDuration(env(d.name, d.def))
		if err != nil {
			return c, fmt.Errorf("%s: %w", d.name, err)
		}
		*d.dst = v
	}
	for _, s := range c.Systems {
		if !slices.Contains([]string{"postgres", "sqlite", "influxdb", "victoriametrics"}, s) {
			return c, fmt.Errorf("DISK_SYSTEMS: %q is none of postgres, sqlite, influxdb, victoriametrics", s)
		}
	}
	if c.CurrentWeek {
		c.Data.Start = time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(c.Data.PerDevice) * c.Data.Step)
		if span := time.Duration(c.Data.PerDevice) * c.Data.Step; span > 6*24*time.Hour+12*time.Hour {
			return c, fmt.Errorf("DISK_CURRENT_WEEK=1 with DISK_PER_DEVICE=%d spans %s: more than 6.5 days reaches days the compactor takes", c.Data.PerDevice, span)
		}
		for _, s := range c.Systems {
			if s != "postgres" && s != "sqlite" {
				return c, fmt.Errorf("DISK_CURRENT_WEEK=1 measures thermowatt only: DISK_SYSTEMS=%q", s)
			}
		}
		return c, nil
	}
	if span := time.Duration(c.Data.PerDevice) * c.Data.Step; span < 31*24*time.Hour {
		return c, fmt.Errorf("DISK_PER_DEVICE=%d spans %s: the 30-day read needs 31 days at least (%d readings)",
			c.Data.PerDevice, span, int(31*24*time.Hour/c.Data.Step)+1)
	}
	return c, nil
}

// diskSet is the generated readings, per device.
type diskSet struct {
	cfg     sensordata.Config
	devices [][]sensordata.Reading
}

func (s *diskSet) generate() {
	s.devices = make([][]sensordata.Reading, s.cfg.Devices)
	for d := range s.devices {
		s.devices[d] = s.cfg.Device(d)
	}
}

func (s *diskSet) n() int { return s.cfg.N() }

func (s *diskSet) ids() []string {
	ids := make([]string, s.cfg.Devices)
	for d := range ids {
		ids[d] = s.cfg.DeviceID(d)
	}
	return ids
}

// batches calls do for every `size` consecutive readings of one device,
// oldest first with the devices taking turns (as a fleet's readings
// arrive), from `loaders` goroutines; it returns the time it took.
func (s *diskSet) batches(ctx context.Context, size, loaders int, do func(ctx context.Context, d int, rs []sensordata.Reading) error) (time.Duration, error) {
	type job struct{ d, from int }
	jobs := make(chan job)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(jobs)
		for from := 0; from < s.cfg.PerDevice; from += size {
			for d := range s.devices {
				select {
				case jobs <- job{d, from}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	errs := make(chan error, loaders)
	start := time.Now()
	for range loaders {
		go func() {
			for j := range jobs {
				rs := s.devices[j.d][j.from:min(j.from+size, s.cfg.PerDevice)]
				if err := do(ctx, j.d, rs); err != nil {
					cancel()
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range loaders {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return time.Since(start), first
}

// The two reads, on old (for thermowatt: compacted) weeks.
const (
	readDay    = iota // the raw readings of 24 hours, newest first (≤ 300)
	readSeries        // 30 days per hour: avg, min and max of each quantity
	numReads
)

var readNames = [numReads]string{"24 h raw page", "30-day hourly series"}

// diskQuery is one read: a device and the end of its window.
type diskQuery struct {
	device string
	end    time.Time
}

// queries are the same reads for every system: a random device, and a
// window ending at a random whole hour of the data.
func (s *diskSet) queries(kind, n int) []diskQuery {
	rng := rand.New(rand.NewPCG(uint64(kind), 20))
	span := 24 * time.Hour
	if kind == readSeries {
		span = 30 * 24 * time.Hour
	}
	first := s.cfg.Start.Add(span).Truncate(time.Hour)
	hours := int(s.cfg.End().Sub(first) / time.Hour)
	qs := make([]diskQuery, n)
	for i := range qs {
		qs[i] = diskQuery{device: s.cfg.DeviceID(rng.IntN(s.cfg.Devices)), end: first.Add(time.Duration(rng.IntN(hours+1)) * time.Hour)}
	}
	return qs
}

type diskResult struct {
	System   string
	Readings int
	Load     time.Duration
	Bytes    int64  // on disk, what grows with the data
	What     string // what Bytes counts
	Reads    [numReads]result
	Answered [numReads]int // rows or buckets of the first query, the check that all answer alike
}

// measureReads runs every read's queries one after the other and records
// each one's latency.
func measureReads(ctx context.Context, s *diskSet, n int, r *diskResult, logf func(string, ...any),
	run [numReads]func(ctx context.Context, q diskQuery) (int, error)) error {
	for k := range numReads {
		qs := s.queries(k, n+1)
		var err error
		if r.Answered[k], err = run[k](ctx, qs[0]); err != nil { // also warms the connection
			return fmt.Errorf("%s: %w", readNames[k], err)
		}
		res := result{}
		start := time.Now()
		for _, q := range qs[1:] {
			t0 := time.Now()
			if _, err := run[k](ctx, q); err != nil {
				return fmt.Errorf("%s of %s to %s: %w", readNames[k], q.device, q.end.Format(time.RFC3339), err)
			}
			res.Latencies = append(res.Latencies, time.Since(t0))
		}
		res.Elapsed = time.Since(start)
		res.Requests = len(res.Latencies)
		slices.Sort(res.Latencies)
		r.Reads[k] = res
		logf("  %s %s: %d queries, p50 %s, p99 %s (first answer: %d rows/buckets)", r.System, readNames[k], res.Requests,
			ms(res.quantile(0.5)), ms(res.quantile(0.99)), r.Answered[k])
	}
	return nil
}

// settle waits d, as a production server would be left after its
// writes (its background work done: compaction, snapshots, merges).
func settle(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func printDisk(w io.Writer, rs []*diskResult, codec codecFigures) {
	var influx *diskResult
	for _, r := range rs {
		if r.System == "InfluxDB" {
			influx = r
		}
	}
	fmt.Fprintln(w, "| system | MB per million readings (bytes a reading) | ÷ InfluxDB | load (readings/s) | 24 h page p50 / p99 (ms) | 30-day series p50 / p99 (ms) | answered (rows, buckets) | counted |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		per := float64(r.Bytes) / float64(r.Readings)
		ratio := "—"
		if influx != nil && influx.Bytes > 0 {
			ratio = fmt.Sprintf("%.2f", per/(float64(influx.Bytes)/float64(influx.Readings)))
		}
		fmt.Fprintf(w, "| %s | %.1f | %s | %s | %.2f / %.2f | %.2f / %.2f | %d, %d | %s |\n", r.System, per, ratio,
			thousands(int64(float64(r.Readings)/r.Load.Seconds())),
			msf(r.Reads[readDay].quantile(0.5)), msf(r.Reads[readDay].quantile(0.99)),
			msf(r.Reads[readSeries].quantile(0.5)), msf(r.Reads[readSeries].quantile(0.99)),
			r.Answered[readDay], r.Answered[readSeries], r.What)
	}
	for _, c := range codec.rows {
		ratio := "—"
		if influx != nil && influx.Bytes > 0 {
			ratio = fmt.Sprintf("%.2f", c.bytesPerReading/(float64(influx.Bytes)/float64(influx.Readings)))
		}
		fmt.Fprintf(w, "| %s | %.1f | %s | — | — | — | — | %s |\n", c.name, c.bytesPerReading, ratio, c.what)
	}
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }
