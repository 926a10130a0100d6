package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// Many concurrent callers, some sending the same readings: each gets its
// own exact counts, and the store holds every distinct reading once.
func TestGroupCommitAnswersEachCallerWithItsOwnCounts(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			g := ingest.NewGroupCommitter(st, 2, 500, 10*time.Second)
			defer g.Close()
			base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			const devices, perDevice = 40, 5
			var wg sync.WaitGroup
			var mu sync.Mutex
			accepted, duplicates := 0, 0
			for d := range devices {
				for copyN := range 2 { // every reading is sent twice, concurrently
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range perDevice {
							r := thermowatt.Reading{DeviceID: fmt.Sprintf("dev-%02d", d), RecordedAt: base.Add(time.Duration(i) * time.Second)}
							res, err := g.InsertReadings(context.Background(), []thermowatt.Reading{r, r}, time.Now())
							if err != nil {
								t.Error(err)
								return
							}
							if res.Accepted+res.Duplicates != 2 || res.Accepted > 1 || len(res.Inserted) != 2 || res.Inserted[1] {
								t.Errorf("copy %d: %+v", copyN, res)
							}
							mu.Lock()
							accepted += res.Accepted
							duplicates += res.Duplicates
							mu.Unlock()
						}
					}()
				}
			}
			wg.Wait()
			if accepted != devices*perDevice || duplicates != 3*devices*perDevice {
				t.Fatalf("accepted %d duplicates %d, want %d and %d", accepted, duplicates, devices*perDevice, 3*devices*perDevice)
			}
			rows, err := st.QueryReadings(context.Background(), store.Query{Limit: 10000})
			if err != nil || len(rows) != devices*perDevice {
				t.Fatalf("stored %d (%v), want %d", len(rows), err, devices*perDevice)
			}
		})
	}
}

// refusingWriter is a database that refuses any transaction holding a
// reading of the device "poison", as PostgreSQL refuses a whole
// transaction for one bad value. Its first commit waits for release, so
// that the calls made meanwhile queue up and share the next commit.
type refusingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	commits [][]thermowatt.Reading
}

func (w *refusingWriter) InsertReadings(_ context.Context, rs []thermowatt.Reading, _ time.Time) (store.InsertResult, error) {
	w.once.Do(func() { close(w.entered); <-w.release })
	w.mu.Lock()
	w.commits = append(w.commits, rs)
	w.mu.Unlock()
	for _, r := range rs {
		if r.DeviceID == "poison" {
			return store.InsertResult{}, errors.New("invalid byte sequence for encoding \"UTF8\" (SQLSTATE 22021)")
		}
	}
	res := store.InsertResult{Inserted: make([]bool, len(rs)), Accepted: len(rs)}
	for i := range res.Inserted {
		res.Inserted[i] = true
	}
	return res, nil
}

// A commit shared by many calls that fails because of one call's readings
// fails only that call: the others are committed and answered.
func TestGroupCommitFailsOnlyTheCallerWhoseReadingsAreRefused(t *testing.T) {
	w := &refusingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	g := ingest.NewGroupCommitter(w, 1, 1000, 10*time.Second)
	defer g.Close()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	type outcome struct {
		device string
		res    store.InsertResult
		err    error
	}
	out := make(chan outcome, 32)
	send := func(device string) {
		res, err := g.InsertReadings(context.Background(), []thermowatt.Reading{{DeviceID: device, RecordedAt: at}}, at)
		out <- outcome{device, res, err}
	}
	go send("first") // holds the worker until release
	<-w.entered
	devices := []string{"a", "b", "poison", "c", "d", "e", "f", "g"}
	for _, d := range devices {
		go send(d)
	}
	// Let every call reach the queue before the first commit ends.
	deadline := time.Now().Add(10 * time.Second)
	for g.Queued() < len(devices) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(w.release)

	for range len(devices) + 1 {
		o := <-out
		switch {
		case o.device == "poison" && o.err == nil:
			t.Errorf("the refused reading's caller got no error: %+v", o.res)
		case o.device != "poison" && (o.err != nil || o.res.Accepted != 1):
			t.Errorf("caller %s: %+v, %v; want its reading committed", o.device, o.res, o.err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	shared := false
	for _, c := range w.commits {
		shared = shared || len(c) == len(devices)
	}
	if !shared {
		t.Errorf("the calls never shared a commit (%d commits); the test did not test sharing", len(w.commits))
	}
}

// A failure of the database itself is not split up: every caller of the
// commit gets it at once, and the database sees one attempt.
func TestGroupCommitDoesNotSplitWhenTheDatabaseIsUnavailable(t *testing.T) {
	var attempts atomic.Int32
	w := writerFunc(func(context.Context, []thermowatt.Reading, time.Time) (store.InsertResult, error) {
		attempts.Add(1)
		time.Sleep(50 * time.Millisecond) // let calls gather
		return store.InsertResult{}, thermowatt.Unavailable(errors.New("connection refused"))
	})
	g := ingest.NewGroupCommitter(w, 1, 1000, 10*time.Second)
	defer g.Close()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.InsertReadings(context.Background(), []thermowatt.Reading{{DeviceID: fmt.Sprint("d", i), RecordedAt: at}}, at)
			if !errors.Is(err, thermowatt.ErrUnavailable) {
				t.Errorf("caller %d: %v, want unavailable", i, err)
			}
		}()
	}
	wg.Wait()
	if n := attempts.Load(); n > 8 {
		t.Errorf("%d attempts for 8 callers: an unavailable database was retried piecemeal", n)
	}
}

type writerFunc func(context.Context, []thermowatt.Reading, time.Time) (store.InsertResult, error)

func (f writerFunc) InsertReadings(ctx context.Context, rs []thermowatt.Reading, at time.Time) (store.InsertResult, error) {
	return f(ctx, rs, at)
}
