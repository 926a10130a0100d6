package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/httpapi"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// instance is one serve process on a shared PostgreSQL: its own store
// (pool and revocation listener) and its own verifier with the token
// cache on, as serve wires them.
func startInstance(t *testing.T, url string) string {
	t.Helper()
	st, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v := auth.NewVerifier(st, adminToken, auth.WithCache(time.Hour, 10000))
	ctx, stop := context.WithCancel(context.Background())
	live := make(chan bool, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.WatchRevocations(ctx, v.Forget, func(l bool) { v.SetRevocationsLive(l); live <- l })
	}()
	t.Cleanup(func() { stop(); <-done })
	if !<-live {
		t.Fatal("revocations not live")
	}
	// With the database gate on, as serve runs by default: the gate wraps
	// the store with Store's methods only, and the revoke must still wait
	// for every instance (before, behind the gate, it did not wait).
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Deps{Store: st, Verifier: v, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: config.Limits{MaxDBConcurrency: 16, DBWait: time.Second, DBTimeout: 10 * time.Second}}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A token revoked through one instance is refused by every other from
// the moment the revoke is answered: the answer waits until every live
// instance has confirmed it dropped the token. 200 revocations, several
// at once to load the machine; each token is cached on the other instance
// first, and used there right after the 204. (Before: 19 of 200 first
// requests were accepted, up to 91 ms after the 204.)
func TestRevocationReachesEveryInstanceBeforeTheAnswer(t *testing.T) {
	if !testdb.PostgresAvailable(t) {
		return
	}
	url := testdb.NewPostgresDatabase(t)
	a, b := startInstance(t, url), startInstance(t, url)
	st, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 200
	secrets, ids := make([]string, n), make([]string, n)
	for i := range n {
		dev := fmt.Sprintf("d%03d", i)
		if _, err := st.CreateDevice(t.Context(), dev, time.Now()); err != nil {
			t.Fatal(err)
		}
		secret, tok, err := auth.New(thermowatt.ScopeDevice, dev, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		secrets[i], ids[i] = secret, tok.ID
	}
	post := func(base, secret, dev string) int {
		req, _ := http.NewRequest("POST", base+"/api/measurements",
			strings.NewReader(fmt.Sprintf(`{"deviceId":"%s","temperature":1}`, dev)))
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for i := range n { // cached on b
		if s := post(b, secrets[i], fmt.Sprintf("d%03d", i)); s != 201 {
			t.Fatalf("before revocation: %d", s)
		}
	}
	var accepted atomic.Int64
	var mu sync.Mutex
	var took []time.Duration
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				req, _ := http.NewRequest("DELETE", a+"/api/tokens/"+ids[i], nil)
				req.Header.Set("Authorization", "Bearer "+adminToken)
				t0 := time.Now()
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode != 204 || res.Header.Get("Warning") != "" {
					t.Errorf("revoke: %v %v %q", err, res.Status, res.Header.Get("Warning"))
					return
				}
				res.Body.Close()
				mu.Lock()
				took = append(took, time.Since(t0))
				mu.Unlock()
				if s := post(b, secrets[i], fmt.Sprintf("d%03d", i)); s != 401 {
					accepted.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	slices.Sort(took)
	if len(took) > 0 {
		t.Logf("%d revocations through one instance, 8 at once, in %v; a revoke's answer took %v median, %v at most (a figure, not a limit)",
			n, time.Since(start).Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	}
	if k := accepted.Load(); k != 0 {
		t.Errorf("%d of %d tokens were accepted by the other instance after the revoke's 204", k, n)
	}
}
