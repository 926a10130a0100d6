package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/metrics"
	"github.com/thermowatt/thermowatt/internal/store"
)

// nullWriter commits nothing: the benchmark measures the server's own
// work per request, not the database's.
type nullWriter struct{}

func (nullWriter) InsertReadings(_ context.Context, rs []thermowatt.Reading, _ time.Time) (store.InsertResult, error) {
	return store.InsertResult{Accepted: len(rs)}, nil
}

// BenchmarkPostMeasurement is one fleet request (a single reading) through
// the whole handler chain: logging, security headers, metrics, auth (the
// ADMIN_TOKEN, so no store look-up), decode, group-commit stand-in, answer.
func BenchmarkPostMeasurement(b *testing.B) {
	const token = "bench-admin-token-0123456789"
	h := NewServer(Deps{
		Writer:   nullWriter{},
		Verifier: auth.NewVerifier(nil, token),
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics:  metrics.New(),
		Now:      func() time.Time { return time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC) },
	})
	item := func(i int) string {
		return fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":"2026-11-27T02:%02d:%02dZ","temperature":24.3,"humidity":41.5,"payload":{"voltage_v":4.98,"current_ma":120.4,"power_mw":600.5}}`, i/60, i%60)
	}
	items := make([]string, 100)
	for i := range items {
		items[i] = item(i)
	}
	for name, body := range map[string][]byte{
		"body=single":   []byte(item(0)),
		"body=batch100": []byte("[" + strings.Join(items, ",") + "]"),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/api/measurements", bytes.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusCreated {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
}
