package alerts_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/alerts"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// backend opens n stores on one fresh database: n checkers with their own
// connections, as two processes (serve and the cron job) would have.
type backend struct {
	name string
	open func(t *testing.T, n int) []store.Store
}

func backends(t *testing.T) []backend {
	bs := []backend{{"sqlite", func(t *testing.T, n int) []store.Store {
		path := filepath.Join(t.TempDir(), "thermowatt.db")
		var ss []store.Store
		for range n {
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ss = append(ss, s)
		}
		return ss
	}}}
	if testdb.PostgresAvailable(t) {
		bs = append(bs, backend{"postgres", func(t *testing.T, n int) []store.Store {
			url := testdb.NewPostgresDatabase(t)
			var ss []store.Store
			for range n {
				s, err := postgres.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				ss = append(ss, s)
			}
			return ss
		}})
	}
	if testdb.CitusAvailable() {
		bs = append(bs, backend{"citus", func(t *testing.T, n int) []store.Store {
			url := testdb.NewCitusDatabase(t)
			var ss []store.Store
			for range n {
				s, err := postgres.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				ss = append(ss, s)
			}
			return ss
		}})
	}
	return bs
}

func eachBackend(t *testing.T, n int, f func(t *testing.T, ss []store.Store)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b.open(t, n))
		})
	}
}

// receiver is a webhook endpoint that records what it got; it answers
// failFirst requests with 503 before accepting.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	delay     time.Duration // per request: a slow receiver widens every race
	attempts  int
	texts     []string // "text", as Slack gets it
	contents  []string // "content", as Discord gets it
	url       string
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Text, Content   string
			AllowedMentions *struct{ Parse []string } `json:"allowed_mentions"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.Text == "" || body.Content == "" ||
			body.AllowedMentions == nil || body.AllowedMentions.Parse == nil || len(body.AllowedMentions.Parse) != 0 {
			t.Errorf("webhook body: %+v, %v; want text, content and allowed_mentions.parse empty", body, err)
		}
		time.Sleep(r.delay)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.attempts++
		if r.attempts <= r.failFirst {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		r.texts = append(r.texts, body.Text)
		r.contents = append(r.contents, body.Content)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *receiver) got() (attempts int, texts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts, append([]string(nil), r.texts...)
}

// clock is a settable time for the checkers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(t time.Time) *clock    { return &clock{t: t} }
func quiet() *slog.Logger            { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func f64(v float64) *float64         { return &v }
func checker(s store.Store, c *clock, url string) *alerts.Checker {
	ch := &alerts.Checker{Store: s, Policy: alerts.DefaultPolicy, Now: c.Now, Log: quiet()}
	if url != "" {
		ch.Webhook = &alerts.Webhook{URL: url}
	}
	return ch
}

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func send(t *testing.T, s store.Store, device string, at time.Time, payload string) {
	t.Helper()
	r := thermowatt.Reading{DeviceID: device, RecordedAt: at, Temperature: f64(21)}
	if payload != "" {
		r.Payload = json.RawMessage(payload)
	}
	if _, err := s.InsertReadings(context.Background(), []thermowatt.Reading{r}, at); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, c *alerts.Checker) alerts.Report {
	t.Helper()
	r, err := c.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

func openAlerts(t *testing.T, s store.Store) []thermowatt.Alert {
	t.Helper()
	as, err := s.ListAlerts(context.Background(), store.AlertQuery{OpenOnly: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func TestSilentAlertOpensOnceAfterThresholdAndResolvesWhenDataReturns(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, ss []store.Store) {
		s := ss[0]
		hook := newReceiver(t, 0)
		clk := newClock(t0)
		c := checker(s, clk, hook.url)
		send(t, s, "node-1", t0, "")
		if err := s.SetExpectedInterval(context.Background(), "node-1", 60); err != nil {
			t.Fatal(err)
		}
		// 3 missed intervals of 60 s: silent after t0+180s, not before.
		clk.Set(t0.Add(180 * time.Second))
		if r := check(t, c); len(r.Opened) != 0 {
			t.Fatalf("opened %v at the threshold itself", r.Opened)
		}
		// A checker running every minute sees it within one period.
		clk.Set(t0.Add(180*time.Second + time.Minute))
		if r := check(t, c); len(r.Opened) != 1 || r.Opened[0] != "node-1/silent" || r.Notified != 1 {
			t.Fatalf("report = %+v, want node-1/silent opened and notified", r)
		}
		for range 3 { // later checks change nothing
			clk.Add(time.Minute)
			if r := check(t, c); len(r.Opened)+len(r.Resolved)+r.Notified != 0 {
				t.Fatalf("a later check did %+v", r)
			}
		}
		if as := openAlerts(t, s); len(as) != 1 || as[0].Kind != "silent" || !strings.Contains(as[0].Message, "node-1 is silent") {
			t.Fatalf("open alerts = %+v", as)
		}
		send(t, s, "node-1", clk.Now().Add(time.Second), "")
		clk.Add(time.Minute)
		if r := check(t, c); len(r.Resolved) != 1 || r.Notified != 1 {
			t.Fatalf("report after data returned = %+v, want resolved and notified", r)
		}
		check(t, c)
		if as := openAlerts(t, s); len(as) != 0 {
			t.Errorf("open alerts after data returned: %+v", as)
		}
		_, texts := hook.got()
		if len(texts) != 2 || !strings.HasPrefix(texts[0], "[thermowatt] ALERT") || !strings.HasPrefix(texts[1], "[thermowatt] RESOLVED node-1 is sending again") {
			t.Errorf("webhook got %q, want one ALERT then one RESOLVED", texts)
		}
	})
}

func TestNewDeviceIsNeverSilent(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, ss []store.Store) {
		if _, err := ss[0].CreateDevice(context.Background(), "fresh", t0); err != nil {
			t.Fatal(err)
		}
		c := checker(ss[0], newClock(t0.Add(24*time.Hour)), "")
		if r := check(t, c); len(r.Opened) != 0 {
			t.Errorf("a device that never sent opened %v", r.Opened)
		}
	})
}

// Two checkers with their own connections run at the same instant, again
// and again, through the opening and the resolution of an alert for each
// of several devices: every transition reaches the webhook exactly once.
func TestRacingCheckersNotifyEachTransitionOnce(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, ss []store.Store) {
		hook := newReceiver(t, 0)
		hook.delay = 20 * time.Millisecond
		clk := newClock(t0)
		devices := []string{"a", "b", "c", "d", "e"}
		for _, d := range devices {
			send(t, ss[0], d, t0, "")
		}
		race := func() {
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, s := range ss {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if _, err := checker(s, clk, hook.url).Check(context.Background()); err != nil {
						t.Errorf("Check: %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
		}
		clk.Set(t0.Add(time.Hour)) // every device silent
		for range 3 {
			race()
		}
		for _, d := range devices {
			send(t, ss[1], d, clk.Now().Add(time.Second), "")
		}
		clk.Add(time.Minute)
		for range 3 {
			race()
		}
		_, texts := hook.got()
		counts := map[string]int{}
		for _, tx := range texts {
			for _, d := range devices {
				if strings.Contains(tx, " "+d+" is ") {
					kind := "ALERT"
					if strings.Contains(tx, "RESOLVED") {
						kind = "RESOLVED"
					}
					counts[d+" "+kind]++
				}
			}
		}
		for _, d := range devices {
			if counts[d+" ALERT"] != 1 || counts[d+" RESOLVED"] != 1 {
				t.Errorf("device %s: %d ALERT and %d RESOLVED messages, want 1 and 1", d, counts[d+" ALERT"], counts[d+" RESOLVED"])
			}
		}
		if len(texts) != 2*len(devices) {
			t.Errorf("webhook got %d messages, want %d:\n%s", len(texts), 2*len(devices), strings.Join(texts, "\n"))
		}
	})
}

func TestFailedWebhookIsRetriedWithBackoff(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, ss []store.Store) {
		s := ss[0]
		hook := newReceiver(t, 2) // down for two attempts
		clk := newClock(t0)
		c := checker(s, clk, hook.url)
		send(t, s, "node-1", t0, "")
		clk.Set(t0.Add(time.Hour))
		if r := check(t, c); len(r.Opened) != 1 || r.Failed != 1 {
			t.Fatalf("first check = %+v, want opened, delivery failed", r)
		}
		// Before the backoff ends nothing is sent; the alert stays open.
		clk.Add(alerts.Backoff(1) - time.Second)
		check(t, c)
		if n, _ := hook.got(); n != 1 {
			t.Fatalf("%d attempts before the backoff ended, want 1", n)
		}
		clk.Add(time.Second)
		if r := check(t, c); r.Failed != 1 {
			t.Fatalf("second attempt = %+v, want failed", r)
		}
		clk.Add(alerts.Backoff(2))
		if r := check(t, c); r.Notified != 1 {
			t.Fatalf("third attempt = %+v, want delivered", r)
		}
		clk.Add(time.Hour)
		check(t, c)
		attempts, texts := hook.got()
		if attempts != 3 || len(texts) != 1 || !strings.Contains(texts[0], "node-1 is silent") {
			t.Errorf("webhook: %d attempts, messages %q; want 3 attempts, the alert once", attempts, texts)
		}
		as := openAlerts(t, s)
		if len(as) != 1 || as[0].OpenedNotifiedAt == nil || as[0].LastError != "" {
			t.Errorf("alert after delivery = %+v", as)
		}
	})
}

func TestFailingAlerts(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, ss []store.Store) {
		s := ss[0]
		ctx := context.Background()
		clk := newClock(t0)
		c := checker(s, clk, "")
		// Rejected readings over the threshold within the hour.
		send(t, s, "bad-data", t0, "")
		if err := s.CountFailures(ctx, "bad-data", 10, 0, t0); err != nil {
			t.Fatal(err)
		}
		// A device whose queue is backing up.
		send(t, s, "backlog", t0, `{"device":{"queue_depth":150,"dropped":0}}`)
		// A device that dropped readings within the hour: lifetime count 4 -> 6.
		send(t, s, "dropper", t0.Add(-2*time.Hour), `{"device":{"dropped":4}}`)
		send(t, s, "dropper", t0, `{"device":{"dropped":6,"last_error":"ENOMEM"}}`)
		// Long ago dropped readings, none since: fine.
		send(t, s, "old-drops", t0.Add(-2*time.Hour), `{"device":{"dropped":4}}`)
		send(t, s, "old-drops", t0, `{"device":{"dropped":4,"queue_depth":0}}`)
		// Odd health reports never stop the check.
		send(t, s, "odd", t0, `{"device":{"dropped":"many","queue_depth":null}}`)

		clk.Set(t0.Add(time.Minute))
		r := check(t, c)
		got := strings.Join(r.Opened, " ")
		if got != "backlog/failing bad-data/failing dropper/failing" {
			t.Fatalf("opened %q, want backlog, bad-data and dropper failing", got)
		}
		for _, a := range openAlerts(t, s) {
			if a.DeviceID == "dropper" && (!strings.Contains(a.Message, "dropped 2 readings") || !strings.Contains(a.Message, "ENOMEM")) {
				t.Errorf("dropper message %q, want the growth of 2 and the last error", a.Message)
			}
		}
		// An hour later, with fresh clean reports, all resolve.
		later := t0.Add(61 * time.Minute)
		send(t, s, "backlog", later, `{"device":{"queue_depth":0,"dropped":0}}`)
		send(t, s, "dropper", later, `{"device":{"dropped":6}}`)
		send(t, s, "bad-data", later, "")
		clk.Set(later.Add(time.Minute))
		r = check(t, c)
		if got := strings.Join(r.Resolved, " "); got != "backlog/failing bad-data/failing dropper/failing" {
			t.Errorf("resolved %q, want all three", got)
		}
	})
}

// A device that reports it rolled back a firmware update opens an update
// alert, notified once; it resolves when the device reports another state.
func TestUpdateAlertOnRollback(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, ss []store.Store) {
		s := ss[0]
		hook := newReceiver(t, 0)
		clk := newClock(t0)
		c := checker(s, clk, hook.url)
		send(t, s, "node-1", t0, `{"device":{"firmware":"1.4.0","update":{"state":"installed","version":"1.5.0","reason":null}}}`)
		if r := check(t, c); len(r.Opened) != 0 {
			t.Fatalf("opened %v for an installed update", r.Opened)
		}
		send(t, s, "node-1", t0.Add(time.Minute), `{"device":{"firmware":"1.4.0","update":{"state":"rolled_back","version":"1.5.0","reason":"no batch delivered within 3 cycles"}}}`)
		clk.Add(2 * time.Minute)
		if r := check(t, c); len(r.Opened) != 1 || r.Opened[0] != "node-1/update" || r.Notified != 1 {
			t.Fatalf("report = %+v, want node-1/update opened and notified", r)
		}
		clk.Add(time.Minute)
		if r := check(t, c); len(r.Opened)+len(r.Resolved)+r.Notified != 0 {
			t.Fatalf("a later check did %+v", r)
		}
		as := openAlerts(t, s)
		if len(as) != 1 || as[0].Kind != thermowatt.KindUpdate || !strings.Contains(as[0].Message, "rolled back the firmware update from `1.5.0` to `1.4.0`: `no batch delivered within 3 cycles`") {
			t.Fatalf("open alerts = %+v", as)
		}
		send(t, s, "node-1", t0.Add(5*time.Minute), `{"device":{"firmware":"1.4.0","update":{"state":"idle","version":"1.4.0","reason":null}}}`)
		clk.Add(5 * time.Minute)
		if r := check(t, c); len(r.Resolved) != 1 || r.Resolved[0] != "node-1/update" || r.Notified != 1 {
			t.Fatalf("report after another state = %+v, want resolved and notified", r)
		}
		_, texts := hook.got()
		if len(texts) != 2 || !strings.HasPrefix(texts[0], "[thermowatt] ALERT") || !strings.Contains(texts[1], "RESOLVED node-1 reports an update state other than rolled back") {
			t.Errorf("webhook got %q", texts)
		}
	})
}
