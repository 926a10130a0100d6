// Package apiclient is a small client of the thermowatt ingest API that
// follows the device contract: 2xx done; 408, 429, 5xx and network errors
// retried with backoff honouring Retry-After; any other 4xx never resent.
// The backfill and simulate commands share it, so both behave like the
// firmware (esp32/lib/uplink.py) does.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt/internal/wire"
)

// Client posts readings to one server with one token.
type Client struct {
	BaseURL string // e.g. http://localhost:8080, without a trailing slash
	Token   string
	HTTP    *http.Client // nil: a client with a 60 s timeout
}

// Kind is what an answer tells the sender to do with the batch.
type Kind int

const (
	// Sent: the batch is stored (readings listed in Rejected are not, and
	// never will be).
	Sent Kind = iota
	// Retry: not stored, or not known to be: send the same batch again later.
	Retry
	// Dead: the batch will never be accepted; do not resend it.
	Dead
	// Held: the sender is misconfigured (token, URL, device): nothing will
	// be accepted until a person fixes it.
	Held
)

func (k Kind) String() string {
	return [...]string{"sent", "retry", "dead", "held"}[k]
}

// Classify maps an HTTP status to what the sender does, as the firmware does.
func Classify(status int) Kind {
	switch {
	case status >= 200 && status <= 299:
		return Sent
	case status == 401 || status == 403 || status == 404:
		return Held
	case status == 408 || status == 429 || status >= 500:
		return Retry
	case status >= 400:
		return Dead
	}
	return Retry // 1xx/3xx: a redirect lost the POST
}

// Answer is the outcome of one POST.
type Answer struct {
	Kind   Kind
	Status int         // 0 for a network error
	Result wire.Result // the body of a 2xx answer (and of a 4xx that lists rejections)
	// RetryAfter is the server's Retry-After, or -1 when it sent none.
	RetryAfter time.Duration
	// Message is the server's error message, or the network error.
	Message string
	Err     error // network error, nil when the server answered
	Elapsed time.Duration
}

func (a Answer) String() string {
	if a.Err != nil {
		return "network error: " + a.Message
	}
	if a.Message != "" {
		return fmt.Sprintf("HTTP %d: %s", a.Status, a.Message)
	}
	return fmt.Sprintf("HTTP %d", a.Status)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

var defaultHTTP = &http.Client{Timeout: 60 * time.Second}

// PostMeasurements sends one body (a JSON array of readings) once.
func (c *Client) PostMeasurements(ctx context.Context, body []byte) Answer {
	start := time.Now()
	a := Answer{RetryAfter: -1}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/api/measurements", bytes.NewReader(body))
	if err != nil {
		return Answer{Kind: Held, RetryAfter: -1, Message: err.Error(), Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	res, err := c.httpClient().Do(req)
	a.Elapsed = time.Since(start)
	if err != nil {
		a.Kind, a.Err, a.Message = Retry, err, err.Error()
		return a
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	a.Elapsed = time.Since(start)
	a.Status = res.StatusCode
	a.Kind = Classify(res.StatusCode)
	if err != nil && a.Kind == Sent {
		// The server committed but the answer was cut: resending is safe
		// (duplicates) and the only way to learn the counts.
		a.Kind, a.Err, a.Message = Retry, err, "answer cut short: "+err.Error()
		return a
	}
	a.RetryAfter = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	if a.Kind == Sent {
		if err := json.Unmarshal(raw, &a.Result); err != nil {
			a.Kind, a.Message = Retry, "2xx answer is not the ingest result JSON: "+err.Error()
		}
		return a
	}
	var e struct {
		Error    string           `json:"error"`
		Rejected []wire.Rejection `json:"rejected"`
	}
	if json.Unmarshal(raw, &e) == nil {
		a.Message = e.Error
		a.Result.Rejected = e.Rejected
	}
	if a.Message == "" && len(a.Result.Rejected) == 0 {
		a.Message = strings.TrimSpace(string(raw))
		if len(a.Message) > 200 {
			a.Message = a.Message[:200] + "…"
		}
	}
	return a
}

// maxRetryAfter bounds how long a server may make us wait at once.
const maxRetryAfter = time.Hour

// parseRetryAfter reads delta-seconds or an HTTP date; -1 when absent.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if s, err := strconv.Atoi(v); err == nil {
		return min(max(time.Duration(s)*time.Second, 0), maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return -1
}

// Backoff is exponential backoff with "equal jitter": at least half of the
// delay, so a fleet woken by the same outage does not return in lockstep.
type Backoff struct {
	Base, Cap time.Duration
	Rand      func() float64 // [0,1); nil: math/rand/v2
}

// Delay is the wait after the given number of consecutive failures (1..),
// or the server's Retry-After (plus up to 10% jitter) when it sent one.
func (b Backoff) Delay(failures int, retryAfter time.Duration) time.Duration {
	r := b.rand()
	if retryAfter >= 0 {
		return retryAfter + time.Duration(float64(retryAfter)*0.1*r)
	}
	d := b.Base << min(max(failures-1, 0), 20)
	if d > b.Cap || d <= 0 {
		d = b.Cap
	}
	return d/2 + time.Duration(float64(d/2)*r)
}

// Policy says how hard Send tries.
type Policy struct {
	MaxAttempts int // 0: until ctx ends
	Backoff     Backoff
	// OnRetry is told about each failed attempt before the wait.
	OnRetry func(attempt int, wait time.Duration, a Answer)
}

// ErrGaveUp wraps the last answer when MaxAttempts were used up.
var ErrGaveUp = errors.New("gave up")

// Send posts body until it is Sent, Dead or Held, retrying the rest per
// the policy. The returned error is non-nil only when ctx ended or the
// attempts ran out; the answer is then the last one (Kind Retry).
func (c *Client) Send(ctx context.Context, body []byte, p Policy) (Answer, error) {
	for attempt := 1; ; attempt++ {
		a := c.PostMeasurements(ctx, body)
		if a.Kind != Retry {
			return a, nil
		}
		if err := ctx.Err(); err != nil {
			return a, err
		}
		if p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
			return a, fmt.Errorf("%w after %d attempts; last: %s", ErrGaveUp, attempt, a)
		}
		wait := p.Backoff.Delay(attempt, a.RetryAfter)
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, a)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return a, ctx.Err()
		case <-t.C:
		}
	}
}

func (b Backoff) rand() float64 {
	if b.Rand != nil {
		return b.Rand()
	}
	return rand.Float64()
}
