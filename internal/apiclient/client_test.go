package apiclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassifyFollowsTheDeviceContract(t *testing.T) {
	for status, want := range map[int]Kind{
		200: Sent, 201: Sent, 400: Dead, 413: Dead, 422: Dead, 401: Held, 403: Held, 404: Held,
		408: Retry, 429: Retry, 500: Retry, 502: Retry, 503: Retry, 302: Retry,
	} {
		if got := Classify(status); got != want {
			t.Errorf("Classify(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestRetryAfterSecondsAndDates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              -1,
		"7":                             7 * time.Second,
		"-3":                            0,
		"999999":                        time.Hour,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
		"soon":                          -1,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("Retry-After %q = %s, want %s", in, got, want)
		}
	}
}

func TestBackoffHonoursRetryAfterAndStaysWithinTheCap(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: 30 * time.Second, Rand: func() float64 { return 0.999 }}
	if d := b.Delay(1, 10*time.Second); d < 10*time.Second || d > 11*time.Second {
		t.Errorf("Retry-After 10s gave %s", d)
	}
	for f := 1; f < 70; f++ {
		if d := b.Delay(f, -1); d > 30*time.Second || d < 500*time.Millisecond {
			t.Fatalf("failure %d: %s outside [0.5s, 30s]", f, d)
		}
	}
	b.Rand = func() float64 { return 0 }
	if d := b.Delay(3, -1); d != 2*time.Second {
		t.Errorf("third failure with no jitter: %s, want half of 4s", d)
	}
}

// Send resends on 503 and stops at once on a 400, never resending it.
func TestSendRetriesTransientAnswersOnly(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
		case 2:
			w.WriteHeader(201)
			w.Write([]byte(`{"accepted":2,"duplicates":1,"rejected":[{"index":2,"field":"temperature","message":"out of range"}]}`))
		default:
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"body is not valid JSON"}`))
		}
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "t"}
	p := Policy{MaxAttempts: 5, Backoff: Backoff{Base: time.Millisecond, Cap: time.Millisecond}}
	a, err := c.Send(context.Background(), []byte(`[]`), p)
	if err != nil || a.Kind != Sent || a.Result.Accepted != 2 || a.Result.Duplicates != 1 || len(a.Result.Rejected) != 1 || calls.Load() != 2 {
		t.Fatalf("503 then 201: %+v %v after %d calls", a, err, calls.Load())
	}
	a, err = c.Send(context.Background(), []byte(`x`), p)
	if err != nil || a.Kind != Dead || a.Message != "body is not valid JSON" || calls.Load() != 3 {
		t.Fatalf("400 must be final after one call: %+v %v after %d calls", a, err, calls.Load())
	}
}

func TestSendGivesUpAfterMaxAttemptsOnNetworkErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c := &Client{BaseURL: url, Token: "t"}
	retries := 0
	_, err := c.Send(context.Background(), []byte(`[]`), Policy{MaxAttempts: 3, Backoff: Backoff{Base: time.Millisecond, Cap: time.Millisecond},
		OnRetry: func(int, time.Duration, Answer) { retries++ }})
	if err == nil || retries != 2 {
		t.Fatalf("want give-up after 3 attempts (2 retries), got %v and %d retries", err, retries)
	}
}
