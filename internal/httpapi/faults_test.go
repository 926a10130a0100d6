package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// serveLimits are the limits `thermowatt serve` runs with by default,
// apart from the rate limits, which a test driving many requests from one
// address would trip over.
var serveLimits = config.Limits{MaxDBConcurrency: 16, MaxIngestQueue: 1024, DBWait: time.Second, DBTimeout: 5 * time.Second}

// fleet is devices that each send batches of readings, resending a batch
// until it is acknowledged, as the firmware does, and remember what was
// acknowledged.
type fleet struct {
	a      *api
	client *http.Client // its timeout is how long a "prompt" answer may take
	tokens map[string]string

	mu        sync.Mutex
	acked     map[string][]string // device -> recordedAt of every reading answered 2xx
	statuses  map[int]int
	slowest   time.Duration
	slowest5x time.Duration
	problems  []string
}

func newFleet(a *api, devices int) *fleet {
	f := &fleet{a: a, client: &http.Client{Timeout: 30 * time.Second}, tokens: map[string]string{},
		acked: map[string][]string{}, statuses: map[int]int{}}
	for i := range devices {
		id := fmt.Sprintf("node-%02d", i)
		f.tokens[id] = a.device(id)
	}
	return f
}

func (f *fleet) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.problems) < 20 {
		f.problems = append(f.problems, fmt.Sprintf(format, args...))
	}
}

// send posts one batch; it reports whether the batch was acknowledged.
func (f *fleet) send(device string, times []string) bool {
	var b strings.Builder
	b.WriteString("[")
	for i, at := range times {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"deviceId":%q,"recordedAt":%q,"temperature":21.5}`, device, at)
	}
	b.WriteString("]")
	req, _ := http.NewRequest("POST", f.a.url+"/api/measurements", strings.NewReader(b.String()))
	req.Header.Set("Authorization", "Bearer "+f.tokens[device])
	start := time.Now()
	res, err := f.client.Do(req)
	took := time.Since(start)
	if err != nil {
		f.problem("%s: no answer: %v (after %s)", device, err, took)
		return false
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses[res.StatusCode]++
	f.slowest = max(f.slowest, took)
	switch {
	case res.StatusCode == 201:
		var out struct{ Accepted, Duplicates int }
		if json.Unmarshal(body, &out) != nil || out.Accepted+out.Duplicates != len(times) {
			f.problems = append(f.problems, fmt.Sprintf("%s: 201 that does not account for the batch: %s", device, body))
		}
		f.acked[device] = append(f.acked[device], times...)
		return true
	case res.StatusCode == 503:
		f.slowest5x = max(f.slowest5x, took)
		if res.Header.Get("Retry-After") == "" {
			f.problems = append(f.problems, fmt.Sprintf("%s: 503 without Retry-After: %s", device, body))
		}
	default:
		f.problems = append(f.problems, fmt.Sprintf("%s: unexpected %d: %s", device, res.StatusCode, body))
	}
	return false
}

// run makes every device send batches of size readings until stop is
// closed; each batch is resent until acknowledged.
func (f *fleet) run(stop <-chan struct{}, size int) *sync.WaitGroup {
	var wg sync.WaitGroup
	// A millisecond apart, so that however long a slow machine makes the
	// run, a device never runs out of past instants (readings more than
	// 10 minutes ahead of the server's clock are refused).
	base := time.Now().UTC().Add(-50 * time.Minute).Truncate(time.Second)
	for device := range f.tokens {
		wg.Go(func() {
			next := 0
			for {
				times := make([]string, size)
				for i := range times {
					times[i] = base.Add(time.Duration(next+i) * time.Millisecond).Format(time.RFC3339Nano)
				}
				for !f.send(device, times) {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond): // the firmware honours Retry-After; a test need not wait that long
					}
				}
				next += size
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	return &wg
}

// verify checks that every acknowledged reading is in st.
func (f *fleet) verify(t *testing.T, st store.Store) int {
	t.Helper()
	total := 0
	for device, times := range f.acked {
		rows, err := st.QueryReadings(context.Background(), store.Query{DeviceID: device, Limit: 1_000_000})
		if err != nil {
			t.Fatalf("reading back %s: %v", device, err)
		}
		have := map[string]bool{}
		for _, r := range rows {
			have[r.RecordedAt.UTC().Format(time.RFC3339Nano)] = true
		}
		for _, at := range times {
			if !have[at] {
				t.Errorf("%s: reading %s was acknowledged (2xx) but is not stored", device, at)
			}
		}
		total += len(times)
	}
	return total
}

func (f *fleet) report(t *testing.T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.Logf("answers by status: %v; slowest answer %s, slowest 503 %s", f.statuses, f.slowest.Round(time.Millisecond), f.slowest5x.Round(time.Millisecond))
	for _, p := range f.problems {
		t.Error(p)
	}
}

func (f *fleet) count(status int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statuses[status]
}

// Fault tests wait on what the fleet observes rather than on the clock: a
// busy machine (another test suite beside this one, a slow disk) makes
// everything slower without making it wrong. The wait fails when the
// fleet has had no answer at all for fleetStall, or when cond still does
// not hold after fleetPatience, however busy the fleet is.
const (
	fleetStall    = 2 * time.Minute
	fleetPatience = 5 * time.Minute
)

// waitFor polls cond until it holds; see fleetStall and fleetPatience.
func (f *fleet) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	answers, lastAnswer := f.answers(), start
	for !cond() {
		now := time.Now()
		if n := f.answers(); n != answers {
			answers, lastAnswer = n, now
		}
		if now.Sub(lastAnswer) > fleetStall || now.Sub(start) > fleetPatience {
			f.mu.Lock()
			statuses := fmt.Sprint(f.statuses)
			f.mu.Unlock()
			t.Fatalf("gave up waiting for %s after %s (last answer %s ago; answers by status so far: %s)",
				what, now.Sub(start).Round(time.Second), now.Sub(lastAnswer).Round(time.Second), statuses)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answers is how many answers of any status the fleet has had.
func (f *fleet) answers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.statuses {
		n += c
	}
	return n
}

// PostgreSQL dies in the middle of ingest and comes back: requests during
// the outage are answered 503 + Retry-After at once (never left hanging),
// the service recovers by itself, and every reading that got a 2xx is in
// the database afterwards.
func TestPostgresRestartDuringIngest(t *testing.T) {
	c := testdb.StartCluster(t)
	st, err := postgres.Open(t.Context(), c.URL()+"&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := newLimitedAPI(t, st, serveLimits, nil)
	f := newFleet(a, 8)

	stop := make(chan struct{})
	wg := f.run(stop, 20)
	f.waitFor(t, "readings to be acknowledged before the outage", func() bool { return f.count(201) >= 20 })

	c.Stop()
	before := f.count(503)
	f.waitFor(t, "503 answers during the outage", func() bool { return f.count(503) >= before+20 })
	time.Sleep(time.Second) // requests keep arriving at a dead database

	c.Start()
	after := f.count(201)
	f.waitFor(t, "the service to store readings again without a restart", func() bool { return f.count(201) >= after+40 })
	close(stop)
	wg.Wait()
	f.report(t)

	n := f.verify(t, st)
	t.Logf("%d acknowledged readings, all checked in the database", n)
}

// SQLite on a full disk answers 503 + Retry-After, and every reading it
// acknowledged before is there when the disk has room again.
func TestSQLiteFullDiskAnswers503AndKeepsAcknowledgedReadings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	// About 100 pages of 4 KiB once the schema takes its share: full
	// after some hundreds of readings.
	st, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{MaxPageCount: 100})
	if err != nil {
		t.Fatal(err)
	}
	a := newLimitedAPI(t, st, serveLimits, nil)
	f := newFleet(a, 4)
	stop := make(chan struct{})
	wg := f.run(stop, 50)
	f.waitFor(t, "the disk to fill up", func() bool { return f.count(503) >= 20 })
	close(stop)
	wg.Wait()
	f.report(t)
	if f.count(201) == 0 {
		t.Fatal("nothing was acknowledged before the disk was full: the test proves nothing")
	}
	st.Close()

	// Room again: every acknowledged reading is there, and the batches
	// refused with 503 left nothing behind (the device still holds them).
	st2, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	n := f.verify(t, st2)
	all, err := st2.QueryReadings(t.Context(), store.Query{Limit: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Errorf("%d readings stored, %d acknowledged: a refused batch left readings behind", len(all), n)
	}
	t.Logf("%d acknowledged readings before the disk was full, all there", n)
}

// PostgreSQL stops answering without closing anything (a hung server, a
// route that drops packets): requests must still be answered 503 with
// Retry-After, after DB_TIMEOUT at most, never left hanging, and nothing
// acknowledged may be lost when it answers again.
func TestPostgresHangDuringIngest(t *testing.T) {
	c := testdb.StartCluster(t)
	st, err := postgres.Open(t.Context(), c.URL()+"&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := newLimitedAPI(t, st, serveLimits, nil)
	f := newFleet(a, 4)

	stop := make(chan struct{})
	wg := f.run(stop, 20)
	f.waitFor(t, "readings to be acknowledged before the hang", func() bool { return f.count(201) >= 10 })

	c.Freeze()
	before := f.count(503)
	f.waitFor(t, "503 answers while the database hangs", func() bool { return f.count(503) >= before+8 })
	c.Thaw()

	after := f.count(201)
	f.waitFor(t, "the service to store readings again", func() bool { return f.count(201) >= after+20 })
	close(stop)
	wg.Wait()
	f.report(t)
	n := f.verify(t, st)
	t.Logf("%d acknowledged readings, all checked in the database", n)
}
