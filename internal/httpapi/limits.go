package httpapi

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/limit"
)

// limits holds the state behind config.Limits for one server.
type limits struct {
	cfg       config.Limits
	byAddress *limit.Keyed // nil: off
	byToken   *limit.Keyed // nil: off
}

func newLimits(c config.Limits) *limits {
	l := &limits{cfg: c}
	// RATE_LIMIT=0 turns every rate limit off (benchmarks).
	if c.RatePerToken > 0 {
		l.byToken = limit.NewKeyed(c.RatePerToken, c.BurstPerToken, limit.DefaultMaxKeys)
		if c.RatePerAddress > 0 {
			l.byAddress = limit.NewKeyed(c.RatePerAddress, c.BurstPerAddress, limit.DefaultMaxKeys)
		}
	}
	return l
}

// bound puts the concurrency bounds in front of the store and the writer.
// The writer is the group committer, which talks to the store directly:
// its own few workers bound its database work, and the bound here is on
// the requests queueing for it.
func (l *limits) bound(d Deps) Deps {
	if l.cfg.MaxDBConcurrency > 0 {
		gated := limit.NewStore(d.Store, limit.NewGate(l.cfg.MaxDBConcurrency, l.cfg.DBWait), l.cfg.DBTimeout)
		d.Store = gated
		if d.Verifier != nil {
			// Every request's token check is a database call too. The
			// verifier given keeps its cache, shared with this one, so
			// the revocations the caller tells it are heard here.
			d.Verifier = d.Verifier.ReadingFrom(gated)
		}
	}
	if l.cfg.MaxIngestQueue > 0 {
		d.Writer = limit.NewWriter(d.Writer, limit.NewGate(l.cfg.MaxIngestQueue, l.cfg.DBWait))
	}
	return d
}

// tooMany is the 429 answer; Retry-After is in whole seconds, at least 1.
func tooMany(who string, perSecond float64, burst int, wait time.Duration) *Error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &Error{Status: http.StatusTooManyRequests, RetryAfter: secs,
		Message: fmt.Sprintf("too many requests from this %s (limit %g per second, %d at once): retry after %d s", who, perSecond, burst, secs)}
}

// perAddress refuses requests beyond the per-address rate before anything
// else is done for them, so floods of bad tokens cost no database work.
// Health probes are exempt: Render's checker must always get through.
func (l *limits) perAddress(next http.Handler) http.Handler {
	if l.byAddress == nil {
		return next
	}
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return nil
		}
		if ok, wait := l.byAddress.Allow(clientAddress(r, l.cfg.TrustProxyHeaders, l.cfg.ProxyHops)); !ok {
			return tooMany("address", l.cfg.RatePerAddress, l.cfg.BurstPerAddress, wait)
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// perToken wraps authenticate so that, once a request's token is known,
// its own rate is checked: one device cannot use up a shared address's
// allowance, and a leaked token is throttled wherever it is used from.
func (l *limits) perToken(authed guard) guard {
	if l.byToken == nil {
		return authed
	}
	return func(allow permission) middleware {
		return func(next http.Handler) http.Handler {
			limited := handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if ok, wait := l.byToken.Allow(principal(r).TokenID); !ok {
					return tooMany("token", l.cfg.RatePerToken, l.cfg.BurstPerToken, wait)
				}
				next.ServeHTTP(w, r)
				return nil
			})
			return authed(allow)(limited)
		}
	}
}

// limitBody refuses bodies over MAX_BODY_BYTES: at once when the client
// announces the length, or when the handler reads past it.
func (l *limits) limitBody(next http.Handler) http.Handler {
	max := l.cfg.MaxBodyBytes
	if max <= 0 {
		return next
	}
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.ContentLength > max {
			return errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes: split the batch", max))
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
		return nil
	})
}

// clientAddress is the key of the per-address limit. Behind a proxy every
// connection comes from the proxy, so the client is taken from
// X-Forwarded-For, but only when TRUST_PROXY_HEADERS says proxies set it:
// the first entry, or, with hops > 0, the entry hops from the right. Each
// proxy appends the address it saw, so that entry was written by the
// outermost trusted proxy, and whatever a client put in the header itself
// stays to its left. IPv6 clients are keyed by their /64, which one
// subscriber usually holds whole.
func clientAddress(r *http.Request, trustProxy bool, hops int) string {
	if trustProxy {
		var entries []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			entries = append(entries, strings.Split(v, ",")...)
		}
		i := 0
		if hops > 0 {
			i = len(entries) - hops
		}
		if i >= 0 && i < len(entries) {
			if a, err := netip.ParseAddr(strings.TrimSpace(entries[i])); err == nil {
				return addressKey(a)
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || host == "" {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return addressKey(a)
	}
	return host
}

func addressKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
