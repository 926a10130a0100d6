package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// scaleInfluxSettings make InfluxDB snapshot its cache and fully compact
// a shard soon after writes to it stop (defaults: 10 minutes and 4 hours),
// so that the disk use measured after the load is the settled one a
// production server reaches hours later.
const scaleInfluxSettings = `  cache-snapshot-write-cold-duration = "10s"
  compact-full-write-cold-duration = "1m"`

// scaleLine appends reading j of device d in line protocol, precision s:
// the same values the stores get (scaleValues).
func scaleLine(b []byte, s scaleSet, d, j int) []byte {
	temp, hum, v, ma, mw := scaleValues(d, j)
	b = append(b, "readings,device_id="...)
	b = append(b, s.ids[d]...)
	b = append(b, " temperature="...)
	b = strconv.AppendFloat(b, temp, 'f', 1, 64)
	b = append(b, ",humidity="...)
	b = strconv.AppendFloat(b, hum, 'f', 1, 64)
	b = append(b, ",voltage_v="...)
	b = strconv.AppendFloat(b, v, 'f', 2, 64)
	b = append(b, ",current_ma="...)
	b = strconv.AppendFloat(b, ma, 'f', 1, 64)
	b = append(b, ",power_mw="...)
	b = strconv.AppendFloat(b, mw, 'f', 1, 64)
	b = append(b, ' ')
	b = strconv.AppendInt(b, s.at(j).Unix(), 10)
	return append(b, '\n')
}

func influxTime(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339Nano) + "'" }

// influxCount is the number of rows of the first series of an answer.
func influxCount(body []byte) (int, error) {
	var a struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, err
	}
	if len(a.Results) == 0 {
		return 0, fmt.Errorf("no result")
	}
	if a.Results[0].Error != "" {
		return 0, fmt.Errorf("%s", a.Results[0].Error)
	}
	if len(a.Results[0].Series) == 0 {
		return 0, nil
	}
	return len(a.Results[0].Series[0].Values), nil
}

func scaleInflux(ctx context.Context, cfg scaleConfig, influxd string, s scaleSet, logf func(string, ...any)) (*sysResult, error) {
	logf("== InfluxDB: %d devices × %d readings, %s to %s", s.devices, s.perDevice, s.oldest().Format(time.RFC3339), s.end.Format(time.RFC3339))
	dir, err := cfg.tempDir("thermowatt-scale-influxdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(os.TempDir(), "thermowatt-bench-scale-influxdb.log")
	db, err := startInflux(ctx, influxd, dir, logPath, scaleInfluxSettings)
	if err != nil {
		return nil, err
	}
	defer db.stop()
	db.client = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	if _, err := db.setUp(ctx, nil); err != nil {
		return nil, err
	}
	logf("influxd in %s (log %s): auth on, WAL fsync per write, default shard groups (7 days), cache snapshot after 10 s and full compaction after 1 min without writes", dir, logPath)

	r := &sysResult{Readings: s.n()}
	logf("loading by POST /write, line protocol, precision s, %d readings of one device per request, %d loaders ...", cfg.Batch, cfg.Loaders)
	bufs := make(chan []byte, cfg.Loaders)
	for range cfg.Loaders {
		bufs <- make([]byte, 0, 128*cfg.Batch)
	}
	r.Load, err = runLoaders(ctx, s, cfg.Batch, cfg.Loaders, "influxdb", logf, func(ctx context.Context, j scaleJob) error {
		buf := (<-bufs)[:0]
		defer func() { bufs <- buf }()
		for k := j.from; k < j.to; k++ {
			buf = scaleLine(buf, s, j.device, k)
		}
		return db.writeLines(ctx, buf)
	})
	if err != nil {
		return nil, err
	}
	logf("  loaded %d readings in %s: %.0f readings/s", s.n(), dur(r.Load), r.loadRate())

	data, wal := filepath.Join(dir, "data"), filepath.Join(dir, "wal")
	logf("  disk right after the load: data %s, WAL %s", mb(dirSize(data)), mb(dirSize(wal)))
	settleStart := time.Now()
	last, same := int64(-1), 0
	for time.Since(settleStart) < cfg.Settle {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
		}
		size := dirSize(data) + dirSize(wal)
		if size == last {
			same++
		} else {
			same = 0
		}
		last = size
		if same >= 3 && dirSize(wal) < 1<<20 { // 30 s unchanged, the WAL snapshotted
			break
		}
	}
	r.Data = dirSize(data) + dirSize(wal)
	r.DiskNote = fmt.Sprintf("data + WAL, %s after the load", dur(time.Since(settleStart)))
	logf("  disk after compactions settled (%s after the load): data %s, WAL %s", dur(time.Since(settleStart)), mb(dirSize(data)), mb(dirSize(wal)))

	end := s.end.Add(time.Second)
	form := url.Values{"db": {influxDatabase}}
	run := func(ctx context.Context, q string) (int, error) {
		body, err := db.queryBody(ctx, admin, adminPassword, q, form)
		if err != nil {
			return 0, err
		}
		return influxCount(body)
	}
	var monthFields []string
	for _, f := range []string{"temperature", "humidity", "voltage_v", "current_ma", "power_mw"} {
		monthFields = append(monthFields, "mean("+f+")", "min("+f+")", "max("+f+")")
	}
	cases := [numCases]func(context.Context, string) (int, error){
		func(ctx context.Context, dev string) (int, error) {
			return run(ctx, fmt.Sprintf(`SELECT * FROM readings WHERE device_id = '%s' AND time > %s AND time < %s ORDER BY time DESC LIMIT 300`,
				dev, influxTime(end.Add(-24*time.Hour)), influxTime(end)))
		},
		func(ctx context.Context, dev string) (int, error) {
			return run(ctx, fmt.Sprintf(`SELECT %s FROM readings WHERE device_id = '%s' AND time >= %s AND time < %s GROUP BY time(1h) fill(none)`,
				strings.Join(monthFields, ", "), dev, influxTime(end.Add(-30*24*time.Hour)), influxTime(end)))
		},
		func(ctx context.Context, dev string) (int, error) {
			return run(ctx, energyQuery(dev, s))
		},
	}
	logf("queries over the HTTP /query API (Go net/http, JSON decoded), %d per case, random device each, as admin", cfg.Queries)
	if err := runCases(ctx, "influxdb", s.ids, cfg.Queries, r, logf, cases); err != nil {
		return nil, err
	}
	if body, err := db.queryBody(ctx, admin, adminPassword, energyQuery(s.ids[0], s), form); err == nil {
		var a struct {
			Results []struct {
				Series []struct {
					Values [][]any `json:"values"`
				} `json:"series"`
			} `json:"results"`
		}
		if json.Unmarshal(body, &a) == nil && len(a.Results) > 0 && len(a.Results[0].Series) > 0 {
			var wh float64
			for _, v := range a.Results[0].Series[0].Values {
				if f, ok := v[1].(float64); ok {
					wh += f
				}
			}
			logf("  %s: energy over the year %.1f Wh (integral(power_mw, 1h)/1000 per day, summed)", s.ids[0], wh)
		}
	}

	cutoff := s.oldest().Add(30 * 24 * time.Hour)
	want := int64(s.readingsBefore(cutoff) * s.devices)
	body, err := db.queryBody(ctx, admin, adminPassword, "SHOW SHARDS", nil)
	if err != nil {
		return nil, err
	}
	ids, shardEnd, err := shardsBefore(body, cutoff)
	if err != nil {
		return nil, err
	}
	logf("removing the oldest month (before %s): DROP SHARD of the %d shards that end by then (the last ends %s), then DELETE WHERE time < cutoff for the rest", cutoff.Format(time.RFC3339), len(ids), shardEnd.Format(time.RFC3339))
	t0 := time.Now()
	for _, id := range ids {
		if err := db.query(ctx, admin, adminPassword, "DROP SHARD "+id); err != nil {
			return nil, err
		}
	}
	dropped := int64(s.readingsBefore(shardEnd) * s.devices)
	drop := removal{Name: fmt.Sprintf("DROP SHARD ×%d", len(ids)), Removed: dropped, Took: time.Since(t0), Complete: true, Want: dropped}
	logf("  %s", drop.cell())
	t0 = time.Now()
	if _, err := db.queryBody(ctx, admin, adminPassword, fmt.Sprintf("DELETE FROM readings WHERE time < %s", influxTime(cutoff)), form); err != nil {
		return nil, err
	}
	del := removal{Name: "then DELETE WHERE time < cutoff", Removed: want - dropped, Took: time.Since(t0), Complete: true, Want: want - dropped}
	logf("  %s", del.cell())
	if body, err := db.queryBody(ctx, admin, adminPassword, fmt.Sprintf("SELECT count(power_mw) FROM readings WHERE time < %s", influxTime(cutoff)), form); err == nil {
		logf("  check, readings left before the cutoff: %.200s", body)
	}
	r.Removals = append(r.Removals, drop, del)
	return r, nil
}

func energyQuery(dev string, s scaleSet) string {
	return fmt.Sprintf(`SELECT integral(power_mw, 1h) / 1000 FROM readings WHERE device_id = '%s' AND time >= %s AND time < %s GROUP BY time(1d)`,
		dev, influxTime(s.end.Add(-365*24*time.Hour)), influxTime(s.end))
}

// shardsBefore returns the ids of the shards of influxDatabase that end
// at or before cutoff, and the latest of their ends.
func shardsBefore(body []byte, cutoff time.Time) ([]string, time.Time, error) {
	var a struct {
		Results []struct {
			Series []struct {
				Name    string   `json:"name"`
				Columns []string `json:"columns"`
				Values  [][]any  `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, time.Time{}, err
	}
	var (
		ids  []string
		last time.Time
	)
	for _, res := range a.Results {
		for _, sr := range res.Series {
			if sr.Name != influxDatabase {
				continue
			}
			col := map[string]int{}
			for i, c := range sr.Columns {
				col[c] = i
			}
			for _, v := range sr.Values {
				endS, _ := v[col["end_time"]].(string)
				end, err := time.Parse(time.RFC3339, endS)
				if err != nil {
					return nil, last, fmt.Errorf("SHOW SHARDS end_time %q: %w", endS, err)
				}
				if end.After(cutoff) {
					continue
				}
				id, _ := v[col["id"]].(float64)
				ids = append(ids, strconv.Itoa(int(id)))
				if end.After(last) {
					last = end
				}
			}
		}
	}
	return ids, last, nil
}
