package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/httpapi"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// newLimitedAPI is newAPI with limits on, and the log kept when logs is
// not nil.
func newLimitedAPI(t *testing.T, st store.Store, l config.Limits, logs io.Writer) *api {
	if logs == nil {
		logs = io.Discard
	}
	commitTimeout := 10 * time.Second
	if l.DBTimeout > 0 {
		commitTimeout = l.DBTimeout // as serve does
	}
	gc := ingest.NewGroupCommitter(st, 2, 2000, commitTimeout)
	h := httpapi.NewServer(httpapi.Deps{
		Store:    st,
		Writer:   gc,
		Verifier: auth.NewVerifier(st, adminToken),
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		Limits:   l,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); gc.Close() })
	return &api{t: t, url: srv.URL, st: st}
}

// doWith sends a request with extra headers.
func (a *api) doWith(method, path, token, body string, headers map[string]string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: out}
}

func reading1(device string, i int) string {
	return fmt.Sprintf(`{"deviceId":%q,"recordedAt":%q,"temperature":20}`, device, recent(i))
}

// retryAfter returns the Retry-After seconds of a 429 or 503, failing the
// test when it is missing or not a positive whole number.
func retryAfter(t *testing.T, r response) int {
	t.Helper()
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("%d without a usable Retry-After (%q): %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	return n
}

func TestRateLimitPerToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, a0 *api) {
		// A bucket of 3 that refills once every 1000 s: the 4th request
		// within the test is over the limit whatever the machine's speed.
		a := newLimitedAPI(t, a0.st, config.Limits{RatePerToken: 0.001, BurstPerToken: 3}, nil)
		dev1, dev2 := a.device("n1"), a.device("n2") // the env admin token's bucket: 2 of 3
		for i := range 3 {
			if r := a.do("POST", "/api/measurements", dev1, reading1("n1", i)); r.Status != 201 {
				t.Fatalf("request %d within the burst: %d %s", i, r.Status, r.Body)
			}
		}
		r := a.do("POST", "/api/measurements", dev1, reading1("n1", 3))
		if r.Status != 429 || !strings.Contains(fmt.Sprint(r.json(t)["error"]), "too many requests from this token") {
			t.Fatalf("4th request: %d %s", r.Status, r.Body)
		}
		if n := retryAfter(t, r); n < 900 {
			t.Errorf("Retry-After %d s; the bucket refills one request per 1000 s", n)
		}
		if n := a.count("n1"); n != 3 {
			t.Errorf("%d readings stored, want 3: the refused one must not be", n)
		}
		// Another token from the same address has its own bucket.
		if r := a.do("POST", "/api/measurements", dev2, reading1("n2", 0)); r.Status != 201 {
			t.Fatalf("other token: %d %s", r.Status, r.Body)
		}
	})
}

func TestRateLimitPerAddressCutsBadTokensFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, a0 *api) {
		a := newLimitedAPI(t, a0.st, config.Limits{RatePerToken: 1000, BurstPerToken: 1000, RatePerAddress: 0.001, BurstPerAddress: 5}, nil)
		for i := range 5 {
			if r := a.do("GET", "/api/devices", fmt.Sprintf("tw_%012d_guess", i), nil); r.Status != 401 {
				t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
			}
		}
		r := a.do("GET", "/api/devices", adminToken, nil)
		if r.Status != 429 || !strings.Contains(fmt.Sprint(r.json(t)["error"]), "from this address") {
			t.Fatalf("after 5 requests from one address: %d %s", r.Status, r.Body)
		}
		retryAfter(t, r)
		if r := a.do("GET", "/healthz", "", nil); r.Status != 200 {
			t.Fatalf("health probes are exempt: %d", r.Status)
		}
		// Without TRUST_PROXY_HEADERS a client cannot pick its own address.
		if r := a.doWith("GET", "/api/devices", adminToken, "", map[string]string{"X-Forwarded-For": "203.0.113.9"}); r.Status != 429 {
			t.Fatalf("X-Forwarded-For must be ignored unless trusted: %d", r.Status)
		}
	})
}

func TestTrustedProxyHeaderSeparatesClients(t *testing.T) {
	eachBackend(t, func(t *testing.T, a0 *api) {
		a := newLimitedAPI(t, a0.st, config.Limits{RatePerToken: 1000, BurstPerToken: 1000,
			RatePerAddress: 0.001, BurstPerAddress: 2, TrustProxyHeaders: true}, nil)
		from := func(addr string) int {
			return a.doWith("GET", "/api/devices", adminToken, "", map[string]string{"X-Forwarded-For": addr + ", 10.0.0.1"}).Status
		}
		if s := []int{from("203.0.113.1"), from("203.0.113.1"), from("203.0.113.1")}; s[0] != 200 || s[1] != 200 || s[2] != 429 {
			t.Fatalf("one client behind the proxy: %v, want [200 200 429]", s)
		}
		if s := from("203.0.113.2"); s != 200 {
			t.Fatalf("another client behind the same proxy: %d", s)
		}
		// One IPv6 subscriber (a /64) is one client.
		if s := []int{from("2001:db8:1:2::a"), from("2001:db8:1:2::b"), from("2001:db8:1:2::c")}; s[2] != 429 {
			t.Fatalf("addresses of one /64: %v", s)
		}
	})
}

// On Render a request passes Cloudflare, which appends the client's
// address, then Render's proxy, which appends Cloudflare's: with
// TRUST_PROXY_HEADERS=2 the client is the second entry from the right,
// and whatever a client writes into the header itself cannot change that.
func TestProxyHopsResistSpoofedForwardedFor(t *testing.T) {
	eachBackend(t, func(t *testing.T, a0 *api) {
		a := newLimitedAPI(t, a0.st, config.Limits{RatePerToken: 1000, BurstPerToken: 1000,
			RatePerAddress: 0.001, BurstPerAddress: 2, TrustProxyHeaders: true, ProxyHops: 2}, nil)
		var statuses []int
		for i := range 3 {
			// A client rotating made-up entries in front of its real address.
			xff := fmt.Sprintf("198.51.100.%d, 203.0.113.1, 104.22.17.40", i)
			statuses = append(statuses, a.doWith("GET", "/api/devices", adminToken, "", map[string]string{"X-Forwarded-For": xff}).Status)
		}
		if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
			t.Fatalf("spoofing client: %v, want [200 200 429]", statuses)
		}
		if s := a.doWith("GET", "/api/devices", adminToken, "", map[string]string{"X-Forwarded-For": "203.0.113.2, 104.22.17.40"}).Status; s != 200 {
			t.Fatalf("another client through the same edge: %d", s)
		}
	})
}

func TestRateLimitZeroTurnsLimitsOff(t *testing.T) {
	eachBackend(t, func(t *testing.T, a0 *api) {
		a := newLimitedAPI(t, a0.st, config.Limits{RatePerToken: 0, BurstPerToken: 1, RatePerAddress: 0.001, BurstPerAddress: 1}, nil)
		tok := a.device("n1")
		for i := range 30 {
			if r := a.do("POST", "/api/measurements", tok, reading1("n1", i)); r.Status != 201 {
				t.Fatalf("request %d with RATE_LIMIT=0: %d %s", i, r.Status, r.Body)
			}
		}
	})
}

func TestBodyLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, a0 *api) {
		a := newLimitedAPI(t, a0.st, config.Limits{MaxBodyBytes: 1000}, nil)
		tok := a.device("n1")
		big := `[` + reading1("n1", 0) + strings.Repeat(`,`+reading1("n1", 0), 20) + `]`
		r := a.do("POST", "/api/measurements", tok, big)
		if r.Status != 413 || !strings.Contains(fmt.Sprint(r.json(t)["error"]), "body over 1000 bytes") {
			t.Fatalf("announced oversize body: %d %s", r.Status, r.Body)
		}
		// A chunked body announces no length; it is cut while being read.
		req, _ := http.NewRequest("POST", a.url+"/api/measurements", io.MultiReader(strings.NewReader(big)))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 413 || !bytes.Contains(body, []byte("body over 1000 bytes")) {
			t.Fatalf("chunked oversize body: %d %s", res.StatusCode, body)
		}
		if n := a.count("n1"); n != 0 {
			t.Fatalf("oversize bodies stored %d readings", n)
		}
		if r := a.do("POST", "/api/measurements", tok, reading1("n1", 1)); r.Status != 201 {
			t.Fatalf("small body: %d %s", r.Status, r.Body)
		}
	})
}

// holdingStore is a real store whose reads and writes can be held in the
// middle, to fill the concurrency bound the way slow queries would.
type holdingStore struct {
	store.Store
	mu      sync.Mutex
	hold    bool
	entered chan string
	release chan struct{}
}

func newHoldingStore(s store.Store) *holdingStore {
	return &holdingStore{Store: s, entered: make(chan string, 100), release: make(chan struct{})}
}

func (h *holdingStore) wait(ctx context.Context, what string) error {
	h.mu.Lock()
	hold := h.hold
	h.mu.Unlock()
	if !hold {
		return nil
	}
	h.entered <- what
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *holdingStore) setHold(on bool) {
	h.mu.Lock()
	h.hold = on
	h.mu.Unlock()
}

func (h *holdingStore) QueryReadings(ctx context.Context, q store.Query) ([]thermowatt.Stored, error) {
	if err := h.wait(ctx, "query"); err != nil {
		return nil, err
	}
	return h.Store.QueryReadings(ctx, q)
}

func (h *holdingStore) InsertReadings(ctx context.Context, rs []thermowatt.Reading, at time.Time) (store.InsertResult, error) {
	if err := h.wait(ctx, "insert"); err != nil {
		return store.InsertResult{}, err
	}
	return h.Store.InsertReadings(ctx, rs, at)
}

func TestConcurrencyBoundAnswers503InsteadOfPilingUp(t *testing.T) {
	eachBackend(t, func(t *testing.T, a0 *api) {
		hs := newHoldingStore(a0.st)
		a := newLimitedAPI(t, hs, config.Limits{MaxDBConcurrency: 1, MaxIngestQueue: 1, DBWait: 50 * time.Millisecond, DBTimeout: time.Minute}, nil)
		a.st = a0.st
		tok := a.device("n1")
		hs.setHold(true)

		// One read holds the only database slot...
		first := make(chan response, 1)
		go func() { first <- a.do("GET", "/api/measurements", adminToken, nil) }()
		if w := <-hs.entered; w != "query" {
			t.Fatalf("held %s, want the query", w)
		}
		// ...so the next is told to come back, at once and politely.
		r := a.do("GET", "/api/measurements", adminToken, nil)
		if r.Status != 503 || !strings.Contains(fmt.Sprint(r.json(t)["error"]), "busy") || retryAfter(t, r) != 1 {
			t.Fatalf("read beyond MAX_DB_CONCURRENCY: %d %s", r.Status, r.Body)
		}
		// A device's request needs the slot for its token check: 503 too.
		if r := a.do("POST", "/api/measurements", tok, reading1("n1", 0)); r.Status != 503 {
			t.Fatalf("token check beyond MAX_DB_CONCURRENCY: %d %s", r.Status, r.Body)
		}

		// One ingest waits for its commit (held), filling MAX_INGEST_QUEUE=1.
		second := make(chan response, 1)
		go func() { second <- a.do("POST", "/api/measurements", adminToken, reading1("n1", 1)) }()
		if w := <-hs.entered; w != "insert" {
			t.Fatalf("held %s, want the insert", w)
		}
		r = a.do("POST", "/api/measurements", adminToken, reading1("n1", 2))
		if r.Status != 503 || retryAfter(t, r) != 1 {
			t.Fatalf("ingest beyond MAX_INGEST_QUEUE: %d %s", r.Status, r.Body)
		}

		hs.setHold(false)
		close(hs.release)
		if r := <-first; r.Status != 200 {
			t.Fatalf("held read: %d %s", r.Status, r.Body)
		}
		if r := <-second; r.Status != 201 {
			t.Fatalf("held ingest: %d %s", r.Status, r.Body)
		}
		if r := a.do("POST", "/api/measurements", tok, reading1("n1", 2)); r.Status != 201 {
			t.Fatalf("after the slots came free: %d %s", r.Status, r.Body)
		}
		if n := a.count("n1"); n != 2 {
			t.Fatalf("%d readings stored, want the 2 acknowledged", n)
		}
	})
}

func TestStalledDatabaseCallIsCutOffWith503(t *testing.T) {
	eachBackend(t, func(t *testing.T, a0 *api) {
		hs := newHoldingStore(a0.st)
		a := newLimitedAPI(t, hs, config.Limits{MaxDBConcurrency: 4, DBWait: time.Second, DBTimeout: 200 * time.Millisecond}, nil)
		hs.setHold(true) // never released: a query that does not come back
		r := a.do("GET", "/api/measurements", adminToken, nil)
		if r.Status != 503 || retryAfter(t, r) < 1 {
			t.Fatalf("stalled query: %d %s", r.Status, r.Body)
		}
		hs.setHold(false)
		if r := a.do("GET", "/api/measurements", adminToken, nil); r.Status != 200 {
			t.Fatalf("after: %d %s", r.Status, r.Body)
		}
	})
}

// countingStore counts the token lookups that reach the store.
type countingStore struct {
	store.Store
	lookups atomic.Int64
}

func (c *countingStore) TokenByID(ctx context.Context, id string) (thermowatt.Token, error) {
	c.lookups.Add(1)
	return c.Store.TokenByID(ctx, id)
}

// With the database gate on (MAX_DB_CONCURRENCY), the API checks tokens
// through the gate with the cache of the verifier it was given: a token
// verified once is not looked up again, and a revocation told to that
// verifier (as the store's watcher tells it) is heard by the API at once.
// Before, the API copied the verifier: a cache enabled after NewServer
// was never used, and a Forget told afterwards could miss the copy.
func TestGatedTokenChecksUseTheGivenVerifiersCache(t *testing.T) {
	st := &countingStore{Store: testdb.OpenSQLite(t)}
	ctx := t.Context()
	secret, tok, err := auth.New(thermowatt.ScopeDevice, "n1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDevice(ctx, "n1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(st, adminToken, auth.WithCache(time.Hour, 10))
	v.SetRevocationsLive(true)
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Deps{Store: st, Verifier: v,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: config.Limits{MaxDBConcurrency: 4, DBWait: time.Second, DBTimeout: 10 * time.Second}}))
	defer srv.Close()
	settings := func() {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/api/device/settings", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/device/settings with the device's token: %d %s", res.StatusCode, b)
		}
	}
	settings()
	settings()
	if n := st.lookups.Load(); n != 1 {
		t.Fatalf("two requests with one token looked it up %d times, want 1 (the second from the cache)", n)
	}
	v.Forget(tok.ID)
	settings()
	if n := st.lookups.Load(); n != 2 {
		t.Fatalf("after Forget on the given verifier: %d lookups, want 2 (the API's cache forgot the token)", n)
	}
	v.SetRevocationsLive(false)
	settings()
	settings()
	if n := st.lookups.Load(); n != 4 {
		t.Fatalf("while revocations are not heard: %d lookups, want 4 (the cache is off)", n)
	}
}
