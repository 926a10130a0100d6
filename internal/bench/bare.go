package bench

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt/internal/wire"
)

// startBare serves the ceiling for requests/s: a bare handler that reads
// and decodes the body with the service's own decoder (wire.Decode) and
// answers 201, with no authentication, database or logging. It runs in
// the bench process, under the same load generator and concurrency as the
// fleet phase.
func startBare() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxBodyBytes))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, err := wire.Decode(body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"accepted":`+strconv.Itoa(len(b.Readings))+`,"duplicates":0,"rejected":[]}`)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { srv.Close() }, nil
}
