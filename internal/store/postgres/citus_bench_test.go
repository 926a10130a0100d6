package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/pgcluster"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// BenchmarkCitusSingles prints single-reading writes per second on the
// Citus cluster of CITUS_URL (make test-citus; scripts/citus-cluster.sh)
// against one plain PostgreSQL in the same run: a private cluster with
// PostgreSQL's default settings (fsync on, autovacuum on), started here on
// the same machine, as the Citus nodes are. Each side is driven as the
// service drives its store: 64 clients, each posting one reading of one of
// 200 devices at a time, through the group committer serve uses (2
// committers; BENCH_COMMITTERS sets another number). Then batches: 8
// clients posting 500 readings of one device. The sides alternate, 3
// rounds of 4 s each, and the figures are the rounds' means
// (BENCH_SINGLES_ONLY set: the singles alone). Run with
// -benchtime 1x (each side runs for a fixed time, not b.N):
//
//	go test -run '^$' -bench CitusSingles -benchtime 1x ./internal/store/postgres
func BenchmarkCitusSingles(b *testing.B) {
	if !testdb.CitusAvailable() {
		b.Skip("set CITUS_URL")
	}
	plain, err := pgcluster.Start()
	if err != nil {
		b.Skipf("plain PostgreSQL: %v", err)
	}
	defer plain.Close()
	// The machine is shared: the two sides alternate, in rounds, so
	// that a change of load falls on both.
	const rounds, run = 3, 4 * time.Second
	committers := 2 // as serve
	if v, err := strconv.Atoi(os.Getenv("BENCH_COMMITTERS")); err == nil && v > 0 {
		committers = v
	}
	for i := 0; i < b.N; i++ {
		ps := openBench(b, plain.URL())
		cs := testdb.OpenCitus(b)
		var p1, c1, pb, cb float64
		for range rounds {
			p1 += singlesPerSecond(b, ps, committers, run) / rounds
			c1 += singlesPerSecond(b, cs, committers, run) / rounds
		}
		for range rounds {
			if os.Getenv("BENCH_SINGLES_ONLY") != "" {
				pb, cb = 1, 1
				break
			}
			pb += batchReadingsPerSecond(b, ps, run) / rounds
			cb += batchReadingsPerSecond(b, cs, run) / rounds
		}
		b.ReportMetric(p1, "plain-singles/s")
		b.ReportMetric(c1, "citus-singles/s")
		b.ReportMetric(c1/p1, "singles-ratio")
		b.ReportMetric(pb, "plain-batch-readings/s")
		b.ReportMetric(cb, "citus-batch-readings/s")
		b.ReportMetric(cb/pb, "batch-ratio")
		fmt.Printf("singles (%d committers): plain PostgreSQL %.0f/s, Citus %.0f/s (%.2f×); batches of 500: plain %.0f readings/s, Citus %.0f (%.2f×)\n",
			committers, p1, c1, c1/p1, pb, cb, cb/pb)
	}
}

func openBench(b *testing.B, url string) store.Store {
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// singlesPerSecond runs 64 clients posting single readings of 200
// devices through a group committer for d and returns readings/s.
func singlesPerSecond(b *testing.B, st store.Store, committers int, d time.Duration) float64 {
	gc := ingest.NewGroupCommitter(st, committers, 2000, 10*time.Second)
	defer gc.Close()
	since := time.Now().Add(-time.Hour)
	return drive(b, 64, d, func(ctx context.Context, w int, n int64) (int, error) {
		dev := fmt.Sprintf("bench-%03d", rand.IntN(200))
		// recent readings (an old day's go the compaction-safe way,
		// insertLocked), each client's times its own
		at := since.Add(time.Duration(n*64+int64(w)) * time.Millisecond)
		r := thermowatt.Reading{DeviceID: dev, RecordedAt: at, Temperature: ptr(21.5), PowerMW: ptr(1200.0)}
		res, err := gc.InsertReadings(ctx, []thermowatt.Reading{r}, time.Now())
		return res.Accepted + res.Duplicates, err
	})
}

// batchReadingsPerSecond runs 8 clients posting 500 readings of one
// device each (its own) for d and returns readings/s.
func batchReadingsPerSecond(b *testing.B, st store.Store, d time.Duration) float64 {
	since := time.Now().Add(-time.Hour)
	return drive(b, 8, d, func(ctx context.Context, w int, n int64) (int, error) {
		rs := make([]thermowatt.Reading, 500)
		for i := range rs {
			rs[i] = thermowatt.Reading{DeviceID: fmt.Sprintf("batch-%d", w), RecordedAt: since.Add(time.Duration(n*500+int64(i)) * time.Millisecond),
				Temperature: ptr(21.5), PowerMW: ptr(1200.0)}
		}
		res, err := st.InsertReadings(ctx, rs, time.Now())
		return res.Accepted + res.Duplicates, err
	})
}

func drive(b *testing.B, clients int, d time.Duration, call func(ctx context.Context, w int, n int64) (int, error)) float64 {
	ctx := context.Background()
	var (
		total atomic.Int64
		wg    sync.WaitGroup
		fail  atomic.Value
	)
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(0); time.Since(start) < d; n++ {
				k, err := call(ctx, w, n)
				if err != nil {
					fail.Store(err)
					return
				}
				total.Add(int64(k))
			}
		}()
	}
	wg.Wait()
	if err, _ := fail.Load().(error); err != nil {
		b.Fatal(err)
	}
	return float64(total.Load()) / time.Since(start).Seconds()
}
