// Package testserver starts the real API on a real store over real HTTP
// for tests outside httpapi (backfill, simulate, benchmarks): the same
// write path as serve, with requests sharing commits.
package testserver

import (
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
)

// AdminToken is accepted as an admin token by every server Start makes.
const AdminToken = "testserver-admin-token-0123456789"

// Start serves the API on st until the test ends and returns its base
// URL. wrap, when not nil, sits in front of the API (to cut connections,
// answer errors, count requests).
func Start(t testing.TB, st store.Store, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	gc := ingest.NewGroupCommitter(st, 2, 2000, 10*time.Second)
	var h http.Handler = httpapi.NewServer(httpapi.Deps{
		Store:    st,
		Writer:   gc,
		Verifier: auth.NewVerifier(st, AdminToken),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); gc.Close() })
	return srv.URL
}
