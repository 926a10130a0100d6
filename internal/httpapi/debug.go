package httpapi

import (
	"net/http"
	"net/http/pprof"
)

// addDebugRoutes serves Go's profiler, to admin tokens only and only when
// PPROF=true: `make soak` reads the goroutine count from it, and it is how
// a leak or a hot spot on a live instance is found. Off by default because
// a profile shows internals (and costs CPU while it runs).
func addDebugRoutes(mux *http.ServeMux, enabled bool, admin middleware) {
	if !enabled {
		return
	}
	mux.Handle("GET /debug/pprof/", admin(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", admin(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("GET /debug/pprof/profile", admin(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/symbol", admin(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /debug/pprof/trace", admin(http.HandlerFunc(pprof.Trace)))
}
