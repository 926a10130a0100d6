package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

const (
	sysPostgres = iota
	sysInflux
	sysSQLite
	numSystems
)

var systemNames = [numSystems]string{"PostgreSQL", "InfluxDB 1.x", "SQLite"}

// The dashboard's three reads of one device.
const (
	caseDay    = iota // the newest 300 readings of the last 24 h
	caseMonth         // 30 days, hourly avg/min/max
	caseEnergy        // a year of daily energy
	numCases
)

var caseNames = [numCases]string{"(a) 24 h page, newest 300", "(b) 30 days hourly avg/min/max", "(c) 365 days daily energy"}

// readerCounts are the concurrent readers of each case.
var readerCounts = [2]int{1, 4}

type scaleResults struct {
	sys [numSystems]*sysResult
}

type sysResult struct {
	Readings int
	Load     time.Duration
	Queries  [numCases][len(readerCounts)]result
	// Answered is what the first query of each case returned (rows or
	// buckets), the check that the systems answer the same question.
	Answered [numCases]int
	Removals []removal
	// Disk use; Rollups is PostgreSQL's and SQLite's hourly_rollups
	// (inside the file for SQLite: counted in Data there).
	Data, Rollups int64
	DiskNote      string
}

func (r *sysResult) loadRate() float64 { return float64(r.Readings) / r.Load.Seconds() }

// removal is one way of removing the oldest month, timed.
type removal struct {
	Name     string
	Removed  int64
	Took     time.Duration
	Complete bool // false: stopped at SCALE_DELETE_LIMIT
	Want     int64
	Note     string
}

func (m removal) cell() string {
	if m.Note != "" && m.Took == 0 {
		return m.Note
	}
	rate := float64(m.Removed) / m.Took.Seconds()
	s := fmt.Sprintf("%s for %s readings (%s/s)", dur(m.Took), thousands(m.Removed), thousands(int64(rate)))
	if !m.Complete && rate > 0 {
		s += fmt.Sprintf(", stopped at the limit: %s of %s, the whole month ≈ %s", thousands(m.Removed), thousands(m.Want),
			dur(time.Duration(float64(m.Want)/rate*float64(time.Second))))
	}
	if m.Note != "" {
		s += "; " + m.Note
	}
	return s
}

// measureQueries runs n queries of random devices with `readers`
// concurrent readers, closed-loop, each timing its own.
func measureQueries(ctx context.Context, ids []string, readers, n int, seed uint64,
	q func(ctx context.Context, dev string) (int, error)) (result, error) {
	type out struct {
		lat []time.Duration
		err error
	}
	done := make(chan out, readers)
	start := time.Now()
	for w := range readers {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var o out
			for range n / readers {
				dev := ids[rng.IntN(len(ids))]
				t0 := time.Now()
				if _, err := q(ctx, dev); err != nil {
					o.err = fmt.Errorf("%s: %w", dev, err)
					break
				}
				o.lat = append(o.lat, time.Since(t0))
			}
			done <- o
		}()
	}
	var r result
	for range readers {
		o := <-done
		if o.err != nil && r.FirstErr == "" {
			r.FirstErr = o.err.Error()
		}
		r.Latencies = append(r.Latencies, o.lat...)
	}
	r.Elapsed = time.Since(start)
	r.Requests = len(r.Latencies)
	slices.Sort(r.Latencies)
	if r.FirstErr != "" {
		return r, fmt.Errorf("%s", r.FirstErr)
	}
	return r, nil
}

// runCases measures every case at 1 and 4 readers into r.
func runCases(ctx context.Context, name string, ids []string, n int, r *sysResult, logf func(string, ...any),
	cases [numCases]func(ctx context.Context, dev string) (int, error)) error {
	for c, q := range cases {
		var err error
		if r.Answered[c], err = q(ctx, ids[0]); err != nil { // also warms the connections
			return fmt.Errorf("%s: %w", caseNames[c], err)
		}
		for i, readers := range readerCounts {
			res, err := measureQueries(ctx, ids, readers, n, uint64(c*10+i), q)
			if err != nil {
				return fmt.Errorf("%s, %d readers: %w", caseNames[c], readers, err)
			}
			r.Queries[c][i] = res
			logf("  %s %s, %d reader(s): %d queries, p50 %s, p99 %s, %.0f queries/s (first answer: %d rows/buckets)", name, caseNames[c], readers,
				res.Requests, ms(res.quantile(0.5)), ms(res.quantile(0.99)), res.perSecond(), r.Answered[c])
		}
	}
	return nil
}

func (res *scaleResults) print(w io.Writer) {
	var cols []int
	for s := range numSystems {
		if res.sys[s] != nil {
			cols = append(cols, s)
		}
	}
	influx := res.sys[sysInflux]
	header := "| figure |"
	sep := "|---|"
	for _, s := range cols {
		header += " " + systemNames[s] + " |"
		sep += "---|"
		if s != sysInflux && influx != nil {
			header += " " + systemNames[s] + " ÷ InfluxDB |"
			sep += "---|"
		}
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, sep)
	row := func(name string, cell func(r *sysResult) string, value func(r *sysResult) float64) {
		line := "| " + name + " |"
		for _, s := range cols {
			r := res.sys[s]
			line += " " + cell(r) + " |"
			if s != sysInflux && influx != nil {
				ratio := "—"
				if value != nil {
					if a, b := value(r), value(influx); a > 0 && b > 0 {
						ratio = fmt.Sprintf("%.2f", a/b)
					}
				}
				line += " " + ratio + " |"
			}
		}
		fmt.Fprintln(w, line)
	}
	row("devices × readings each", func(r *sysResult) string {
		return thousands(int64(r.Readings))
	}, nil)
	row("load, 2 loaders (readings/s)", func(r *sysResult) string {
		return fmt.Sprintf("%s/s (%s)", thousands(int64(r.loadRate())), dur(r.Load))
	}, func(r *sysResult) float64 { return r.loadRate() })
	for c := range numCases {
		for i, readers := range readerCounts {
			for _, q := range []float64{0.5, 0.99} {
				name := fmt.Sprintf("%s, %d reader%s, p%d (ms)", caseNames[c], readers, map[bool]string{true: "s"}[readers > 1], int(q*100))
				row(name, func(r *sysResult) string {
					return fmt.Sprintf("%.2f", float64(r.Queries[c][i].quantile(q))/1e6)
				}, func(r *sysResult) float64 { return float64(r.Queries[c][i].quantile(q)) })
			}
		}
		row(caseNames[c]+": rows/buckets answered", func(r *sysResult) string { return fmt.Sprint(r.Answered[c]) }, nil)
	}
	// Removals differ in kind per system: one line each, by position.
	most := 0
	for _, s := range cols {
		most = max(most, len(res.sys[s].Removals))
	}
	for k := range most {
		row(fmt.Sprintf("remove oldest month, way %d", k+1), func(r *sysResult) string {
			if k >= len(r.Removals) {
				return "—"
			}
			return r.Removals[k].Name + ": " + r.Removals[k].cell()
		}, nil)
	}
	perM := func(b int64, r *sysResult) float64 { return float64(b) / 1e6 / (float64(r.Readings) / 1e6) }
	row("disk per million readings: readings (MB)", func(r *sysResult) string {
		s := fmt.Sprintf("%.1f", perM(r.Data, r))
		if r.DiskNote != "" {
			s += " (" + r.DiskNote + ")"
		}
		return s
	}, func(r *sysResult) float64 { return perM(r.Data, r) })
	row("disk per million readings: hourly roll-ups (MB)", func(r *sysResult) string {
		if r.Rollups == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f", perM(r.Rollups, r))
	}, nil)
	row("disk per million readings: total (MB)", func(r *sysResult) string {
		return fmt.Sprintf("%.1f", perM(r.Data+r.Rollups, r))
	}, func(r *sysResult) float64 { return perM(r.Data+r.Rollups, r) })
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d)/1e6)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
