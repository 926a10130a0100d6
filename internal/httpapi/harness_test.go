package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/httpapi"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

const adminToken = "test-admin-token-0123456789"

// api is a real server on a real store, reached over real HTTP.
type api struct {
	t   *testing.T
	url string
	st  store.Store
}

// eachBackend runs f against a fresh server on SQLite and on PostgreSQL.
func eachBackend(t *testing.T, f func(t *testing.T, a *api)) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f(t, newAPI(t, b.Open(t)))
		})
	}
}

func newAPI(t *testing.T, st store.Store) *api {
	// The same write path as serve: requests share commits.
	gc := ingest.NewGroupCommitter(st, 2, 2000, 10*time.Second)
	h := httpapi.NewServer(httpapi.Deps{
		Store:    st,
		Writer:   gc,
		Verifier: auth.NewVerifier(st, adminToken),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); gc.Close() })
	return &api{t: t, url: srv.URL, st: st}
}

// response is an answer with its body kept for assertions.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// do sends a request; body may be a string/[]byte (sent as is) or any
// value (sent as JSON).
func (a *api) do(method, path, token string, body any) response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: out}
}

// device registers a device and returns its token.
func (a *api) device(id string) string {
	a.t.Helper()
	r := a.do("POST", "/api/devices", adminToken, map[string]string{"id": id})
	if r.Status != http.StatusCreated {
		a.t.Fatalf("register %s: %d %s", id, r.Status, r.Body)
	}
	return r.json(a.t)["token"].(string)
}

func (a *api) tokenOf(scope string) string {
	a.t.Helper()
	r := a.do("POST", "/api/tokens", adminToken, map[string]string{"scope": scope})
	if r.Status != http.StatusCreated {
		a.t.Fatalf("token %s: %d %s", scope, r.Status, r.Body)
	}
	return r.json(a.t)["token"].(string)
}

// count returns how many readings the store holds for a device.
func (a *api) count(deviceID string) int {
	a.t.Helper()
	rs, err := a.st.QueryReadings(context.Background(), store.Query{DeviceID: deviceID, Limit: 100000})
	if err != nil {
		a.t.Fatal(err)
	}
	return len(rs)
}

// recent is a recordedAt a few minutes in the past, i seconds apart.
func recent(i int) string {
	return time.Now().UTC().Add(-time.Hour).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
}
