package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// RunScale is `make bench-scale`: the same synthetic year of readings
// loaded into PostgreSQL (through the store, so its migrations,
// partitions and roll-ups are the product's), into InfluxDB 1.x and, a
// tenth of the devices, into SQLite; then the dashboard's three reads
// of one device at 1 and 4 concurrent readers, the removal of the
// oldest month, and disk use per million readings, in one table with
// ratios to InfluxDB.
func RunScale(ctx context.Context, out io.Writer) error {
	cfg, err := scaleConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	logf := func(format string, args ...any) { fmt.Fprintf(out, "# "+format+"\n", args...) }
	logf("thermowatt bench-scale: %d devices × %d readings (PostgreSQL, InfluxDB), %d devices × %d (SQLite), one reading every %s per device ending now; %d loaders, %d readings per batch; %d queries per case",
		cfg.Devices, cfg.PerDevice, cfg.SQLiteDevices, cfg.PerDevice, scaleStep, cfg.Loaders, cfg.Batch, cfg.Queries)
	logf("machine: %s, %d CPUs, GOMAXPROCS %d; load average before the run: %s", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAvg())

	if span := time.Duration(cfg.PerDevice) * scaleStep; span < 60*24*time.Hour {
		logf("note: %d readings per device span %s, under the two months the removal figures need: the oldest month's removal takes what there is", cfg.PerDevice, span)
	}
	end := time.Now().UTC().Truncate(scaleStep)
	res := &scaleResults{}
	for _, system := range cfg.Systems {
		var err error
		switch system {
		case "postgres":
			set := newScaleSet(cfg.Devices, cfg.PerDevice, end)
			res.sys[sysPostgres], err = scalePostgres(ctx, cfg, set, logf)
		case "influxdb":
			influxd := cfg.Influxd
			if influxd == "" {
				influxd, _ = exec.LookPath("influxd")
			}
			if influxd == "" {
				logf("%s; its column is left out", influxMissing)
				continue
			}
			if v, err := exec.Command(influxd, "version").Output(); err == nil {
				logf("InfluxDB: %s (%s)", strings.TrimSpace(string(v)), influxd)
			}
			set := newScaleSet(cfg.Devices, cfg.PerDevice, end)
			res.sys[sysInflux], err = scaleInflux(ctx, cfg, influxd, set, logf)
		case "sqlite":
			set := newScaleSet(cfg.SQLiteDevices, cfg.PerDevice, end)
			res.sys[sysSQLite], err = scaleSQLite(ctx, cfg, set, logf)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", system, err)
		}
	}
	logf("load average after the run: %s", loadAvg())
	fmt.Fprintln(out)
	res.print(out)
	return nil
}

type scaleConfig struct {
	DatabaseURL   string        // BENCH_DATABASE_URL: where the scratch database is created
	Influxd       string        // BENCH_INFLUXD
	Devices       int           // SCALE_DEVICES: PostgreSQL's and InfluxDB's
	PerDevice     int           // SCALE_PER_DEVICE: readings of each device
	SQLiteDevices int           // SCALE_SQLITE_DEVICES
	Batch         int           // SCALE_BATCH: readings of one device per InsertReadings call or InfluxDB write
	Loaders       int           // SCALE_LOADERS: concurrent loaders
	Queries       int           // SCALE_QUERIES: queries per case (all readers together)
	DeleteBatch   int           // SCALE_DELETE_BATCH: DeleteReadingsBefore's limit, as `thermowatt retention run --batch`
	DeleteLimit   time.Duration // SCALE_DELETE_LIMIT: how long the removal of a month may run before it is stopped and extrapolated
	Settle        time.Duration // SCALE_SETTLE: how long to wait at most for InfluxDB's compactions before measuring its disk use
	Timeout       time.Duration // SCALE_TIMEOUT: the whole run
	Systems       []string      // SCALE_SYSTEMS: postgres,influxdb,sqlite
	Dir           string        // SCALE_DIR: where InfluxDB's and SQLite's files go (default the temp dir)
}

func scaleConfigFromEnv() (scaleConfig, error) {
	c := scaleConfig{
		DatabaseURL: env("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		Influxd:     os.Getenv("BENCH_INFLUXD"),
		Systems:     strings.Split(env("SCALE_SYSTEMS", "postgres,influxdb,sqlite"), ","),
		Dir:         os.Getenv("SCALE_DIR"),
	}
	for _, n := range []struct {
		name, def string
		dst       *int
	}{
		{"SCALE_DEVICES", "1000", &c.Devices},
		{"SCALE_PER_DEVICE", "100000", &c.PerDevice},
		{"SCALE_SQLITE_DEVICES", "100", &c.SQLiteDevices},
		{"SCALE_BATCH", "5000", &c.Batch},
		{"SCALE_LOADERS", "2", &c.Loaders},
		{"SCALE_QUERIES", "300", &c.Queries},
		{"SCALE_DELETE_BATCH", "5000", &c.DeleteBatch},
	} {
		f, err := strconv.ParseFloat(env(n.name, n.def), 64) // accepts 1e5
		if err != nil || f < 1 {
			return c, fmt.Errorf("%s=%q: want a positive number", n.name, os.Getenv(n.name))
		}
		*n.dst = int(f)
	}
	for _, d := range []struct {
		name, def string
		dst       *time.Duration
	}{
		{"SCALE_DELETE_LIMIT", "10m", &c.DeleteLimit},
		{"SCALE_SETTLE", "5m", &c.Settle},
		{"SCALE_TIMEOUT", "3h", &c.Timeout},
	} {
		v, err := time.ParseDuration(env(d.name, d.def))
		if err != nil {
			return c, fmt.Errorf("%s: %w", d.name, err)
		}
		*d.dst = v
	}
	for _, s := range c.Systems {
		if s != "postgres" && s != "influxdb" && s != "sqlite" {
			return c, fmt.Errorf("SCALE_SYSTEMS: %q is none of postgres, influxdb, sqlite", s)
		}
	}
	return c, nil
}

func (c scaleConfig) tempDir(pattern string) (string, error) {
	return os.MkdirTemp(c.Dir, pattern)
}

// scaleStep is the firmware's interval: one reading every 5 minutes.
const scaleStep = 300 * time.Second

// scaleSet is the synthetic readings: perDevice readings of each device,
// scaleStep apart, the newest at end.
type scaleSet struct {
	devices, perDevice int
	end                time.Time
	ids                []string
}

func newScaleSet(devices, perDevice int, end time.Time) scaleSet {
	s := scaleSet{devices: devices, perDevice: perDevice, end: end}
	for d := range devices {
		s.ids = append(s.ids, fmt.Sprintf("scale-%05d", d))
	}
	return s
}

func (s scaleSet) n() int { return s.devices * s.perDevice }

// at is the time of reading j (0 the oldest) of every device.
func (s scaleSet) at(j int) time.Time {
	return s.end.Add(-time.Duration(s.perDevice-1-j) * scaleStep)
}

func (s scaleSet) oldest() time.Time { return s.at(0) }

// readingsBefore is how many readings of one device are older than t.
func (s scaleSet) readingsBefore(t time.Time) int {
	if !t.After(s.oldest()) {
		return 0
	}
	k := int((t.Sub(s.oldest()) + scaleStep - 1) / scaleStep)
	return min(k, s.perDevice)
}

// scaleValues are reading j of device d: a daily cycle, shifted per
// device, rounded as the firmware rounds. Power varies smoothly, so that
// the energy integrals have work to do and can be compared.
func scaleValues(d, j int) (temp, hum, v, ma, mw float64) {
	phase := 2*math.Pi*float64(j)/288 + float64(d)*0.37
	temp = math.Round((21+4*math.Sin(phase))*10) / 10
	hum = math.Round((50+15*math.Cos(phase))*10) / 10
	mw = math.Round((500+400*math.Sin(phase))*10) / 10
	v = math.Round((5.0-0.05*math.Sin(phase))*100) / 100
	ma = math.Round(mw/v*10) / 10
	return
}

// scaleJob is readings [from, to) of one device. Jobs go oldest first,
// the devices taking turns, as a fleet's readings arrive.
type scaleJob struct{ device, from, to int }

func (s scaleSet) jobs(batch int) <-chan scaleJob {
	ch := make(chan scaleJob, 64)
	go func() {
		defer close(ch)
		for from := 0; from < s.perDevice; from += batch {
			for d := range s.devices {
				ch <- scaleJob{d, from, min(from+batch, s.perDevice)}
			}
		}
	}()
	return ch
}

// runLoaders runs do on every job with `loaders` goroutines and returns
// the elapsed time, logging progress every 30 s.
func runLoaders(ctx context.Context, s scaleSet, batch, loaders int, name string, logf func(string, ...any),
	do func(ctx context.Context, j scaleJob) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := s.jobs(batch)
	errs := make(chan error, loaders)
	var done int64
	progress := make(chan int, loaders*4)
	start := time.Now()
	for range loaders {
		go func() {
			for j := range jobs {
				if err := do(ctx, j); err != nil {
					errs <- err
					cancel()
					for range jobs { // let the producer finish
					}
					return
				}
				progress <- j.to - j.from
			}
			errs <- nil
		}()
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	var firstErr error
	for running := loaders; running > 0; {
		select {
		case err := <-errs:
			running--
			if err != nil && firstErr == nil {
				firstErr = err
			}
		case n := <-progress:
			done += int64(n)
		case <-tick.C:
			el := time.Since(start)
			logf("  %s: %d of %d readings in %s (%.0f/s), load average %s", name, done, s.n(), el.Round(time.Second), float64(done)/el.Seconds(), loadAvg())
		}
	}
	return time.Since(start), firstErr
}

func dirSize(dir string) int64 {
	var total int64
	_ = walkFiles(dir, func(size int64) { total += size })
	return total
}

func walkFiles(dir string, f func(int64)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := dir + string(os.PathSeparator) + e.Name()
		if e.IsDir() {
			if err := walkFiles(p, f); err != nil {
				return err
			}
			continue
		}
		if info, err := e.Info(); err == nil {
			f(info.Size())
		}
	}
	return nil
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}
