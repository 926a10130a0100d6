// Package httpapi is the service's HTTP surface: routes.go lists every
// endpoint; each handler file serves one resource.
package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt/internal/alerts"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/metrics"
	"github.com/thermowatt/thermowatt/internal/retention"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Deps are what NewServer wires the handlers from; addRoutes hands each
// handler only the parts it uses. Writer is where readings are committed:
// the store itself, or a group committer in front of it.
type Deps struct {
	Store    store.Store
	Writer   ingest.Writer
	Verifier *auth.Verifier
	Logger   *slog.Logger
	Now      func() time.Time
	// PublicRead lets GET endpoints that need a reader token answer
	// requests without any token (PUBLIC_READ=true).
	PublicRead bool
	// Operations (instrument.go): metrics (a fresh set when nil), the
	// alert policy behind device status (alerts.DefaultPolicy when zero),
	// and the optional secret that may read /metrics.
	Metrics      *metrics.Metrics
	Policy       alerts.Policy
	MetricsToken string
	// Alerts runs POST /api/alerts/check (a checker on Store with Policy
	// and no webhook when nil); Retention is what POST /api/retention/run
	// keeps (retention.Default when zero).
	Alerts    *alerts.Checker
	Retention retention.Policy
	// Limits: rate, size, concurrency, CORS (limits.go). The zero value
	// turns them all off, as the handler tests want.
	Limits config.Limits
	// OTAPublicKeys are the fleet's firmware-signing keys (base64): when
	// set, a release is published only if one of them verifies it.
	OTAPublicKeys []string
}

// capabilities are what the handlers use of the store beyond
// store.Store, when it has them (store/capabilities.go); nil otherwise.
type capabilities struct {
	revocations store.RevocationAwaiter
}

func capabilitiesOf(st store.Store) capabilities {
	var c capabilities
	c.revocations, _ = st.(store.RevocationAwaiter)
	return c
}

// NewServer returns the whole API as one handler.
func NewServer(d Deps) http.Handler {
	if d.Writer == nil {
		d.Writer = d.Store
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Policy == (alerts.Policy{}) {
		d.Policy = alerts.DefaultPolicy
	}
	if d.Alerts == nil {
		d.Alerts = &alerts.Checker{Store: d.Store, Policy: d.Policy, Log: d.Logger}
	}
	if d.Retention == (retention.Policy{}) {
		d.Retention = retention.Default
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
		d.Metrics.WatchStore(d.Store, d.Policy.MissedIntervals, d.Now)
	}
	// The store's capabilities are looked up on the store itself: the
	// gate below wraps it with Store's methods only.
	caps := capabilitiesOf(d.Store)
	// Requests go through the bounds from here on; /metrics above reads
	// the store itself.
	lim := newLimits(d.Limits)
	d = lim.bound(d)
	mux := http.NewServeMux()
	addRoutes(mux, d, caps, lim.perToken(authenticate(d.Verifier, d.Logger)), newDesiredCache(d.Store))
	var h http.Handler = instrument(d.Metrics, mux)
	h = lim.limitBody(h)
	h = lim.perAddress(h)
	h = cors(d.Limits.CORSOrigins, h) // outside the rate limit: a 429 must be readable by the page
	h = securityHeaders(h)
	h = logRequests(d.Logger, h)
	h = recoverPanics(d.Logger, h)
	return h
}
