package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/limit"
)

// Error is an HTTP error answer. Message goes to the client; Err, the
// detail, only to the log.
type Error struct {
	Status     int
	Message    string
	Err        error
	RetryAfter int // seconds; sets Retry-After when > 0
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func errorf(status int, msg string) *Error { return &Error{Status: status, Message: msg} }

// retryAfterUnavailable is what a client is told to wait when the database
// is down: short, because the firmware backs off on its own as well.
const retryAfterUnavailable = 5

// retryAfterBusy is what a client is told to wait when every database slot
// is taken (MAX_DB_CONCURRENCY): a moment, as the slots turn over fast.
const retryAfterBusy = 1

// storeError turns a store failure into the answer the device contract
// expects: 503 + Retry-After for anything the client should resend.
func storeError(err error) *Error {
	switch {
	case errors.Is(err, limit.ErrBusy):
		return &Error{Status: http.StatusServiceUnavailable, Message: "server busy, retry in a moment", Err: err, RetryAfter: retryAfterBusy}
	case errors.Is(err, thermowatt.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Message: "database unavailable, retry later", Err: err, RetryAfter: retryAfterUnavailable}
	case errors.Is(err, context.Canceled):
		return &Error{Status: 499, Message: "request cancelled", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Message: "internal error", Err: err}
}

// handlerFunc is a handler that returns its error instead of writing it,
// so that every error is answered and logged in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := f(w, r)
	if err == nil {
		return
	}
	var he *Error
	if !errors.As(err, &he) {
		he = storeError(err)
	}
	noteError(r, he) // for /metrics (instrument.go)
	if he.Status >= 500 {
		logFrom(r).Error("request failed", "method", r.Method, "path", r.URL.Path, "status", he.Status, "err", err)
	}
	if he.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.RetryAfter))
	}
	if he.Status == 499 { // the client is gone; nobody reads an answer
		if st, _ := stateOf(r); st.rec.status == 0 {
			st.rec.status = 499
		}
		return
	}
	writeJSON(w, he.Status, map[string]string{"error": he.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Encoded before the status is sent: a value JSON cannot hold (a
	// non-finite number) is a 500 with a JSON error, never a 200 with an
	// empty or cut body.
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(map[string]string{"error": "the answer could not be written as JSON: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decodeJSON reads a small JSON request body into v, strictly.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "invalid JSON body: "+err.Error())
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid JSON body: data after the JSON object")
	}
	return nil
}

func logFrom(r *http.Request) *slog.Logger {
	st, _ := stateOf(r)
	return st.logger
}

func handleAPINotFound() http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+" (see docs/api.md)")
	})
}
