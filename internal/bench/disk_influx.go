package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt/internal/bench/sensordata"
)

// diskInfluxSettings make InfluxDB snapshot its cache and fully compact a
// shard within seconds of the last write to it (defaults: 10 minutes and
// 4 hours), so that what is measured is the settled size a production
// server reaches hours later.
const diskInfluxSettings = `  cache-snapshot-write-cold-duration = "5s"
  compact-full-write-cold-duration = "10s"`

// appendLine writes r in line protocol, precision s: the five quantities
// (humidity is null; the payload's constants and the device's report are
// not what one keeps in a time-series database).
func appendLine(b []byte, r *sensordata.Reading) []byte {
	start := len(b)
	b = append(b, "readings,device_id="...)
	b = append(b, r.DeviceID...)
	sep := byte(' ')
	for _, f := range []struct {
		name string
		v    *float64
	}{{"temperature", r.Temperature}, {"voltage_v", r.VoltageV}, {"current_ma", r.CurrentMA}, {"power_mw", r.PowerMW}, {"pressure_hpa", r.PressureHPA}} {
		if f.v == nil {
			continue
		}
		b = append(b, sep)
		sep = ','
		b = append(b, f.name...)
		b = append(b, '=')
		b = strconv.AppendFloat(b, *f.v, 'f', -1, 64)
	}
	if sep == ' ' { // no value at all: no point
		return b[:start]
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.RecordedAt.Unix(), 10)
	return append(b, '\n')
}

var influxFields = []string{"temperature", "voltage_v", "current_ma", "power_mw", "pressure_hpa"}

func diskInflux(ctx context.Context, cfg diskConfig, s *diskSet, logf func(string, ...any)) (*diskResult, error) {
	influxd := cfg.Influxd
	if influxd == "" {
		influxd, _ = exec.LookPath("influxd")
	}
	if influxd == "" {
		logf("%s; its line is left out", influxMissing)
		return nil, nil
	}
	logf("== InfluxDB")
	if v, err := exec.Command(influxd, "version").Output(); err == nil {
		logf("InfluxDB: %s (%s)", strings.TrimSpace(string(v)), influxd)
	}
	dir, err := os.MkdirTemp(cfg.Dir, "thermowatt-disk-influxdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(os.TempDir(), "thermowatt-bench-disk-influxdb.log")
	db, err := startInflux(ctx, influxd, dir, logPath, diskInfluxSettings)
	if err != nil {
		return nil, err
	}
	defer db.stop()
	db.client = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	if _, err := db.setUp(ctx, nil); err != nil {
		return nil, err
	}
	logf("  influxd in %s (log %s): auth on, WAL fsync per write, default shard groups (7 days), cache snapshot after 5 s and full compaction after 10 s without writes, self-monitoring off", dir, logPath)
	// What grows with the data: the database's shards (TSM files and
	// their index) and its WAL; not the series file, whose segments are
	// preallocated (8 × 4 MB) whatever the data.
	shards := func() (int64, string) {
		var n int64
		var parts []string
		for _, d := range []string{filepath.Join(dir, "data", influxDatabase), filepath.Join(dir, "wal", influxDatabase)} {
			entries, _ := os.ReadDir(d)
			for _, e := range entries {
				if e.Name() == "_series" {
					continue
				}
				n += dirSize(filepath.Join(d, e.Name()))
			}
		}
		series := dirSize(filepath.Join(dir, "data", influxDatabase, "_series"))
		parts = append(parts, "shards' TSM, index and WAL; not the series file ("+mb(series)+", preallocated)")
		return n, strings.Join(parts, "")
	}

	r := &diskResult{System: "InfluxDB", Readings: s.n()}
	logf("  loading by POST /write, line protocol, precision s, %d readings of one device per request, %d loaders ...", cfg.Batch, cfg.Loaders)
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
		return db.writeLines(ctx, buf)
	})
	if err != nil {
		return nil, err
	}
	logf("  loaded %s readings in %s: %.0f readings/s", thousands(int64(s.n())), dur(r.Load), float64(s.n())/r.Load.Seconds())
	b, _ := shards()
	logf("  disk right after the load: %s", mb(b))
	logf("  settling %s ...", cfg.Settle)
	if err := settle(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	r.Bytes, r.What = shards()
	logf("  disk after settling: %s (%s)", mb(r.Bytes), r.What)

	form := url.Values{"db": {influxDatabase}}
	run := func(ctx context.Context, q string) (int, error) {
		body, err := db.queryBody(ctx, admin, adminPassword, q, form)
		if err != nil {
			return 0, err
		}
		return influxCount(body)
	}
	var aggs []string
	for _, f := range influxFields {
		aggs = append(aggs, "mean("+f+")", "min("+f+")", "max("+f+")")
	}
	logf("  reads over the HTTP /query API as admin, one at a time, the same devices and windows")
	err = measureReads(ctx, s, cfg.Queries, r, logf, [numReads]func(context.Context, diskQuery) (int, error){
		func(ctx context.Context, q diskQuery) (int, error) {
			return run(ctx, fmt.Sprintf(`SELECT * FROM readings WHERE device_id = '%s' AND time >= %s AND time < %s ORDER BY time DESC LIMIT 300`,
				q.device, influxTime(q.end.Add(-24*time.Hour)), influxTime(q.end)))
		},
		func(ctx context.Context, q diskQuery) (int, error) {
			return run(ctx, fmt.Sprintf(`SELECT %s FROM readings WHERE device_id = '%s' AND time >= %s AND time < %s GROUP BY time(1h) fill(none)`,
				strings.Join(aggs, ", "), q.device, influxTime(q.end.Add(-30*24*time.Hour)), influxTime(q.end)))
		},
	})
	return r, err
}
