package backfill_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/backfill"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
	"github.com/thermowatt/thermowatt/internal/testserver"
)

const adminToken = testserver.AdminToken

func server(t *testing.T, st store.Store, wrap func(http.Handler) http.Handler) string {
	return testserver.Start(t, st, wrap)
}

func client(url string) *apiclient.Client {
	return &apiclient.Client{BaseURL: url, Token: adminToken}
}

// fastPolicy retries quickly: the tests' servers ask for no wait.
var fastPolicy = apiclient.Policy{MaxAttempts: 5, Backoff: apiclient.Backoff{Base: time.Millisecond, Cap: 10 * time.Millisecond}}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// writePair writes temp.csv and elect.csv as the firmware does (its
// headers, 5-minute steps, boot and uptime columns), n rows each. Every
// 1000th instant has only a temperature row, and the one after it only a
// power row, so that the join meets partnerless rows.
func writePair(t testing.TB, dir string, n int) (temp, elect string, readings int) {
	t.Helper()
	temp, elect = filepath.Join(dir, "temp.csv"), filepath.Join(dir, "elect.csv")
	tf, err := os.Create(temp)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := os.Create(elect)
	if err != nil {
		t.Fatal(err)
	}
	tw, ew := bufio.NewWriter(tf), bufio.NewWriter(ef)
	fmt.Fprintln(tw, "recorded_at,boot,uptime_s,temperature_c,pressure_hpa")
	fmt.Fprintln(ew, "recorded_at,boot,uptime_s,voltage_v,current_ma,power_mw")
	instants := map[int]bool{}
	ti, ei := 0, 0
	for rows := 0; rows < n; rows++ {
		// temp row at instant ti
		at := t0.Add(time.Duration(ti) * 5 * time.Minute).Format(time.RFC3339)
		fmt.Fprintf(tw, "%s,1,%d,%.2f,%.2f\n", at, ti*300, 20+float64(ti%100)/10, 1000+float64(ti%50))
		instants[ti] = true
		ti++
		if ti%1000 == 999 {
			ti++ // elect has the next instant alone
		}
		if ei%1000 == 998 {
			ei++ // temp had this instant alone
		}
		at = t0.Add(time.Duration(ei) * 5 * time.Minute).Format(time.RFC3339)
		fmt.Fprintf(ew, "%s,1,%d,%.3f,%.2f,%.1f\n", at, ei*300, 5-float64(ei%10)/100, 100+float64(ei%70), 500+float64(ei%90))
		instants[ei] = true
		ei++
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ew.Flush(); err != nil {
		t.Fatal(err)
	}
	tf.Close()
	ef.Close()
	return temp, elect, len(instants)
}

// stored returns every reading of a device, checking that no
// (device, recordedAt) is held twice.
func stored(t *testing.T, st store.Store, device string) map[time.Time]thermowatt.Stored {
	t.Helper()
	rs, err := st.QueryReadings(context.Background(), store.Query{DeviceID: device, Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[time.Time]thermowatt.Stored, len(rs))
	for _, r := range rs {
		k := r.RecordedAt.UTC()
		if _, dup := m[k]; dup {
			t.Fatalf("reading at %s stored twice", k)
		}
		m[k] = r
	}
	return m
}

func TestReplaying100000RowsTwiceStoresEachReadingOnce(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			url := server(t, st, nil)
			dir := t.TempDir()
			temp, elect, want := writePair(t, dir, replayRows)
			o := backfill.Options{Files: []string{temp, elect}, Device: "node-1", Client: client(url), Policy: fastPolicy}

			first, err := backfill.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if first.Rows != 2*replayRows || first.Readings != want || first.Accepted != want || first.Duplicates != 0 || len(first.Skipped)+len(first.Refused) != 0 {
				t.Fatalf("first run: want %d readings accepted from %d rows, got %+v", want, 2*replayRows, summaryCounts(first))
			}
			if _, err := os.Stat(filepath.Join(dir, ".thermowatt-backfill.json")); !os.IsNotExist(err) {
				t.Fatalf("a completed run must remove its checkpoint: %v", err)
			}

			second, err := backfill.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d rows: first run sent %d readings in %s, second in %s", first.Rows, first.Sent, first.Elapsed.Round(time.Millisecond), second.Elapsed.Round(time.Millisecond))
			if second.Accepted != 0 || second.Duplicates != want {
				t.Fatalf("second run must add nothing and count %d already there: %+v", want, summaryCounts(second))
			}
			var out strings.Builder
			second.Write(&out)
			if !strings.Contains(out.String(), fmt.Sprintf("duplicates:  %d (already stored)", want)) {
				t.Fatalf("summary does not say how many were already there:\n%s", out.String())
			}

			got := stored(t, st, "node-1")
			if len(got) != want {
				t.Fatalf("database holds %d readings, want %d", len(got), want)
			}
			// A joined reading has both files' values; partnerless rows
			// keep their own fields only.
			r := got[t0.Add(5*time.Minute)]
			if r.Temperature == nil || *r.Temperature != 20.1 || r.PowerMW == nil || *r.PowerMW != 501 || r.VoltageV == nil || *r.VoltageV != 4.99 {
				t.Fatalf("joined reading: %+v", r)
			}
			var payload struct {
				Sensor struct {
					BMP280 struct {
						PressureHPa float64 `json:"pressure_hpa"`
					} `json:"bmp280"`
				} `json:"sensor"`
			}
			if json.Unmarshal(r.Payload, &payload) != nil || payload.Sensor.BMP280.PressureHPa != 1001 {
				t.Fatalf("pressure must be in payload.sensor.bmp280: %s", r.Payload)
			}
			alone := got[t0.Add(998*5*time.Minute)]
			if alone.Temperature == nil || alone.PowerMW != nil {
				t.Fatalf("temperature-only instant: %+v", alone)
			}
			alone = got[t0.Add(999*5*time.Minute)]
			if alone.Temperature != nil || alone.PowerMW == nil {
				t.Fatalf("power-only instant: %+v", alone)
			}
		})
	}
}

func summaryCounts(s backfill.Summary) string {
	return fmt.Sprintf("rows=%d readings=%d resumed=%d sent=%d accepted=%d duplicates=%d skipped=%d refused=%d complete=%v",
		s.Rows, s.Readings, s.Resumed, s.Sent, s.Accepted, s.Duplicates, len(s.Skipped), len(s.Refused), s.Complete)
}

// The hardest interruption: the server commits a batch, and the client is
// stopped (Ctrl-C) before the answer arrives. The rerun resumes after the
// last answered batch, resends the unanswered one, and the database holds
// every reading exactly once.
func TestInterruptedRunResumesWithoutLossOrDuplicates(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var posts atomic.Int32
			url := server(t, st, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n := posts.Add(1)
					if n == 4 {
						// Commit, then interrupt the client before it reads the answer.
						h.ServeHTTP(httptest.NewRecorder(), r)
						cancel()
						time.Sleep(50 * time.Millisecond)
						return
					}
					h.ServeHTTP(w, r)
				})
			})
			dir := t.TempDir()
			temp, elect, want := writePair(t, dir, 2_000)
			o := backfill.Options{Files: []string{temp, elect}, Device: "node-1", Client: client(url), Policy: fastPolicy, BatchSize: 100}

			first, err := backfill.Run(ctx, o)
			if err == nil || !strings.Contains(err.Error(), "rerun the same command to resume") {
				t.Fatalf("interrupted run must say how to resume, got %v", err)
			}
			if first.Complete || first.Accepted != 300 {
				t.Fatalf("first run: %s", summaryCounts(first))
			}
			if n := len(stored(t, st, "node-1")); n != 400 {
				t.Fatalf("the unanswered fourth batch was committed by the server: want 400 stored, got %d", n)
			}

			second, err := backfill.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if second.Resumed != 300 || second.Duplicates != 100 || second.Accepted != want-400 || !second.Complete {
				t.Fatalf("second run must resume after 300, resend the unanswered batch as duplicates: %s", summaryCounts(second))
			}
			var out strings.Builder
			second.Write(&out)
			if !strings.Contains(out.String(), "resumed:     300 readings were sent by an earlier, interrupted run") {
				t.Fatalf("summary does not show the resume:\n%s", out.String())
			}
			if n := len(stored(t, st, "node-1")); n != want {
				t.Fatalf("database holds %d readings, want %d", n, want)
			}
		})
	}
}

// A checkpoint belongs to its input: after the file changes, the run
// starts from the beginning (and the server's duplicates keep it exact).
func TestCheckpointOfOtherInputIsNotApplied(t *testing.T) {
	st := testdb.OpenSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	var posts atomic.Int32
	url := server(t, st, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if posts.Add(1) == 3 {
				cancel() // interrupted before the third batch arrives
				time.Sleep(50 * time.Millisecond)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	temp, elect, _ := writePair(t, dir, 500)
	o := backfill.Options{Files: []string{temp, elect}, Device: "node-1", Client: client(url), Policy: fastPolicy, BatchSize: 100}
	if _, err := backfill.Run(ctx, o); err == nil {
		t.Fatal("run was not interrupted")
	}
	f, _ := os.OpenFile(temp, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintln(f, "2026-01-01T00:00:00Z,2,5,19.5,1000")
	f.Close()
	s, err := backfill.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resumed != 0 || s.Duplicates != 200 || s.Accepted != s.Readings-200 {
		t.Fatalf("a changed file must be sent from the start: %s", summaryCounts(s))
	}
}

// The retry contract: 503 and 429 are retried honouring Retry-After; a
// batch refused with another 4xx is never sent again, its rows are listed
// as rejected, and the following batches still go through.
func TestRetriesTransientErrorsAndNeverResendsARefusedBatch(t *testing.T) {
	st := testdb.OpenSQLite(t)
	var mu sync.Mutex
	seen := map[string]int{} // first recordedAt of a batch -> times posted
	var n int
	url := server(t, st, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			key := string(body[:min(len(body), 80)])
			mu.Lock()
			n++
			call := n
			seen[key]++
			mu.Unlock()
			switch call {
			case 1:
				w.Header().Set("Retry-After", "0")
				http.Error(w, `{"error":"database unavailable, retry later"}`, http.StatusServiceUnavailable)
				return
			case 2:
				w.Header().Set("Retry-After", "0")
				http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
				return
			case 4:
				http.Error(w, `{"error":"unsupported batch"}`, http.StatusUnprocessableEntity)
				return
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			h.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	temp, elect, want := writePair(t, dir, 300)
	o := backfill.Options{Files: []string{temp, elect}, Device: "node-1", Client: client(url), Policy: fastPolicy, BatchSize: 100}
	s, err := backfill.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s.Retries != 2 || len(s.Refused) != 100 || s.Accepted != want-100 {
		t.Fatalf("want 2 retries, 100 refused, %d accepted: %s retries=%d", want-100, summaryCounts(s), s.Retries)
	}
	for k, times := range seen {
		if strings.Contains(k, t0.Add(100*5*time.Minute).Format(time.RFC3339)) && times != 1 {
			t.Fatalf("the refused batch was sent %d times", times)
		}
	}
	if p := s.Refused[0].String(); !strings.Contains(p, "temp.csv:102, ") || !strings.Contains(p, "elect.csv:102") || !strings.Contains(p, "HTTP 422") {
		t.Fatalf("refused rows must name their file:line and the answer: %s", p)
	}
	if got := len(stored(t, st, "node-1")); got != want-100 {
		t.Fatalf("stored %d, want %d", got, want-100)
	}
}

// A wrong token stops the run (nothing would be accepted) and keeps the
// place for the rerun.
func TestRefusedTokenStopsTheRun(t *testing.T) {
	st := testdb.OpenSQLite(t)
	url := server(t, st, nil)
	dir := t.TempDir()
	temp, elect, _ := writePair(t, dir, 50)
	c := client(url)
	c.Token = "not-a-token"
	s, err := backfill.Run(context.Background(), backfill.Options{Files: []string{temp, elect}, Device: "node-1", Client: c, Policy: fastPolicy})
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || s.Sent != 0 {
		t.Fatalf("want a 401 error and nothing sent, got %v %s", err, summaryCounts(s))
	}
}

func TestDeviceTokenWritesItsOwnDeviceOnly(t *testing.T) {
	st := testdb.OpenSQLite(t)
	url := server(t, st, nil)
	if _, err := st.CreateDevice(context.Background(), "node-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	secret, tok, _ := auth.New(thermowatt.ScopeDevice, "node-1", time.Now())
	if err := st.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	temp, elect, want := writePair(t, dir, 50)
	c := &apiclient.Client{BaseURL: url, Token: secret}
	s, err := backfill.Run(context.Background(), backfill.Options{Files: []string{temp, elect}, Device: "node-1", Client: c, Policy: fastPolicy})
	if err != nil || s.Accepted != want {
		t.Fatalf("own device: %v %s", err, summaryCounts(s))
	}
	if _, err := backfill.Run(context.Background(), backfill.Options{Files: []string{temp, elect}, Device: "node-2", Client: c, Policy: fastPolicy}); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("other device: want 403, got %v", err)
	}
}

// The network drops after the server committed a batch and before the
// answer arrives: the batch is resent, reported as duplicates, and the
// database holds every reading once, without anyone rerunning anything.
func TestLostAnswerIsResentAndCountedAsDuplicates(t *testing.T) {
	st := testdb.OpenSQLite(t)
	var posts atomic.Int32
	url := server(t, st, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if posts.Add(1) == 2 {
				h.ServeHTTP(httptest.NewRecorder(), r) // committed...
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close() // ...and the connection drops before the answer
				}
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	temp, elect, want := writePair(t, dir, 1000)
	s, err := backfill.Run(context.Background(), backfill.Options{Files: []string{temp, elect}, Device: "node-1", Client: client(url), Policy: fastPolicy, BatchSize: 250})
	if err != nil {
		t.Fatal(err)
	}
	if s.Retries != 1 || s.Duplicates != 250 || s.Accepted != want-250 || !s.Complete {
		t.Fatalf("want one retry and the resent batch as duplicates: %s retries=%d", summaryCounts(s), s.Retries)
	}
	if n := len(stored(t, st, "node-1")); n != want {
		t.Fatalf("stored %d, want %d", n, want)
	}
}
