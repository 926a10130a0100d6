package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt/internal/connlimit"
)

// Limits are the settings that protect the service from too much of
// anything: requests, bytes, slow clients, concurrent database work, and
// browsers on other sites. docs/security.md explains each.
type Limits struct {
	// RatePerToken and BurstPerToken bound the requests of one token, in
	// requests per second and bucket size. RatePerToken 0 turns every
	// rate limit off (for benchmarks with a few tokens standing in for
	// thousands of devices).
	RatePerToken  float64
	BurstPerToken int
	// RatePerAddress and BurstPerAddress bound the requests of one client
	// address, checked before the token is, so a flood of bad tokens is
	// cut too. 0 turns this limit off.
	RatePerAddress  float64
	BurstPerAddress int
	// TrustProxyHeaders takes the client address from X-Forwarded-For:
	// its first entry, or with ProxyHops > 0 the entry that many from the
	// right (each proxy appends the address it saw, so the entries a
	// client wrote itself are all to the left of that one). Off, the TCP
	// peer is the client; behind a proxy that is the proxy, for everyone.
	TrustProxyHeaders bool
	ProxyHops         int
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes int64
	// MaxDBConcurrency bounds the database calls of requests in flight at
	// once; MaxIngestQueue the ingest requests waiting for a commit.
	// Beyond either, after waiting DBWait, a request is answered 503 with
	// Retry-After instead of piling up.
	MaxDBConcurrency int
	MaxIngestQueue   int
	DBWait           time.Duration
	// DBTimeout bounds one database call of a request, and one shared
	// commit of the group committer.
	DBTimeout time.Duration
	// CORSOrigins are the web origins other than the service's own whose
	// pages may call the API. Empty: same origin only.
	CORSOrigins []string
	// Server timeouts against slow clients (net/http.Server).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int
	// MaxConns bounds the connections open at once (MAX_CONNS; "auto"
	// resolves to half the open-file limit, at most 4096), and
	// MaxConnsPerAddress those of one TCP peer address (0: off). Beyond
	// either a new connection is answered 503 and closed as it is
	// accepted (internal/connlimit). Behind a trusted proxy the TCP peer
	// is the proxy, so serve does not apply the per-address cap then.
	MaxConns           int
	MaxConnsPerAddress int
	// Pprof serves net/http/pprof under /debug/pprof/ to admin tokens.
	Pprof bool
}

func init() {
	Options = append(Options, limitOptions...)
}

var limitOptions = []Option{
	{Name: "RATE_LIMIT", Default: "10", Help: "requests per second one token may make (sustained); 0 turns every rate limit off",
		set: func(c *Config, v string) (err error) { c.Limits.RatePerToken, err = rate(v); return }},
	{Name: "RATE_LIMIT_BURST", Default: "50", Help: "requests one token may make at once above RATE_LIMIT",
		set: func(c *Config, v string) (err error) { c.Limits.BurstPerToken, err = positive(v); return }},
	{Name: "RATE_LIMIT_IP", Default: "20", Help: "requests per second one client address may make, checked before the token; 0 turns it off",
		set: func(c *Config, v string) (err error) { c.Limits.RatePerAddress, err = rate(v); return }},
	{Name: "RATE_LIMIT_IP_BURST", Default: "100", Help: "requests one client address may make at once above RATE_LIMIT_IP",
		set: func(c *Config, v string) (err error) { c.Limits.BurstPerAddress, err = positive(v); return }},
	{Name: "TRUST_PROXY_HEADERS", Default: "false", Help: "where the client address comes from: false: the TCP peer; true: the first X-Forwarded-For entry; N (1-10): the N-th entry from the right, for N proxies that each append (2 on Render: Cloudflare, then Render's proxy)",
		set: func(c *Config, v string) (err error) {
			c.Limits.TrustProxyHeaders, c.Limits.ProxyHops, err = proxyHops(v)
			return
		}},
	{Name: "MAX_BODY_BYTES", Default: "1048576", Help: "largest request body in bytes (413 beyond); readings are never taken beyond 1 MiB",
		set: func(c *Config, v string) (err error) {
			n, err := positive(v)
			c.Limits.MaxBodyBytes = int64(n)
			return err
		}},
	{Name: "MAX_DB_CONCURRENCY", Default: "16", Help: "database calls of requests running at once (reads, token checks, admin); beyond it 503 + Retry-After",
		set: func(c *Config, v string) (err error) { c.Limits.MaxDBConcurrency, err = positive(v); return }},
	{Name: "MAX_INGEST_QUEUE", Default: "1024", Help: "ingest requests waiting for a commit at once; beyond it 503 + Retry-After",
		set: func(c *Config, v string) (err error) { c.Limits.MaxIngestQueue, err = positive(v); return }},
	{Name: "DB_WAIT", Default: "1s", Help: "how long a request waits for a free slot (MAX_DB_CONCURRENCY/MAX_INGEST_QUEUE) before 503",
		set: func(c *Config, v string) (err error) { c.Limits.DBWait, err = duration(v); return }},
	{Name: "DB_TIMEOUT", Default: "15s", Help: "longest database call of a request, and longest shared ingest commit; beyond it 503 + Retry-After",
		set: func(c *Config, v string) (err error) { c.Limits.DBTimeout, err = nonZeroDuration(v); return }},
	{Name: "CORS_ORIGINS", Help: "comma-separated web origins (https://example.com) whose pages may call the API; empty: same origin only",
		set: func(c *Config, v string) (err error) { c.Limits.CORSOrigins, err = origins(v); return }},
	{Name: "READ_HEADER_TIMEOUT", Default: "10s", Help: "time a client has to send a request's headers",
		set: func(c *Config, v string) (err error) { c.Limits.ReadHeaderTimeout, err = nonZeroDuration(v); return }},
	{Name: "READ_TIMEOUT", Default: "60s", Help: "time a client has to send a whole request, body included",
		set: func(c *Config, v string) (err error) { c.Limits.ReadTimeout, err = nonZeroDuration(v); return }},
	{Name: "WRITE_TIMEOUT", Default: "5m", Help: "time to send one answer (a CSV export of a long range streams for a while)",
		set: func(c *Config, v string) (err error) { c.Limits.WriteTimeout, err = nonZeroDuration(v); return }},
	// 45s: a client sending every few seconds, or the dashboard
	// refreshing every 30 s, still reuses its connection, while a client
	// that opened many and went quiet gives them back within the minute.
	// (The firmware closes its connection after each request anyway.) Behind a proxy that reuses
	// its connections to the service, this must stay longer than the
	// proxy's own idle timeout, so that the proxy closes first: render.yaml
	// sets it.
	{Name: "IDLE_TIMEOUT", Default: "45s", Help: "how long an idle keep-alive connection stays open (behind a proxy: longer than the proxy's idle timeout)",
		set: func(c *Config, v string) (err error) { c.Limits.IdleTimeout, err = nonZeroDuration(v); return }},
	{Name: "MAX_HEADER_BYTES", Default: "65536", Help: "largest size of a request's headers in bytes (431 beyond)",
		set: func(c *Config, v string) (err error) { c.Limits.MaxHeaderBytes, err = positive(v); return }},
	{Name: "MAX_CONNS", Default: "auto", Help: "connections open at once, in total; auto: half the open-file limit, at most 4096; beyond it new connections get 503 and are closed",
		set: func(c *Config, v string) (err error) { c.Limits.MaxConns, err = maxConns(v, openFileLimit()); return }},
	// 100, like RATE_LIMIT_IP_BURST: an address allowed 100 requests at
	// once may hold a connection for each (a household of devices behind
	// one router, a few browsers at 6 connections each).
	{Name: "MAX_CONNS_IP", Default: "100", Help: "connections open at once from one client address (IPv6: per /64); 0 turns it off; not applied with TRUST_PROXY_HEADERS, where every connection comes from the proxy",
		set: func(c *Config, v string) (err error) { c.Limits.MaxConnsPerAddress, err = nonNegative(v); return }},
	{Name: "PPROF", Default: "false", Help: "true: serve Go's profiler under /debug/pprof/ to admin tokens (for make soak and debugging)",
		set: func(c *Config, v string) (err error) { c.Limits.Pprof, err = boolean(v); return }},
}

// openFileLimit is the process's open-file limit, 0 when unknown; a
// variable so that tests can pretend another limit.
var openFileLimit = connlimit.FileLimit

// maxConns parses MAX_CONNS against the open-file limit: every connection
// is a descriptor, and the database pool and the files need some too.
func maxConns(v string, limit uint64) (int, error) {
	if v == "auto" {
		return connlimit.DefaultMax(limit), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("must be auto or a number of connections, 1 or more")
	}
	if ceil := connlimit.Ceiling(limit); ceil > 0 && n > ceil {
		return 0, fmt.Errorf("must be at most %d: this process may open %d files, and the database and files need some (raise the limit with ulimit -n, or lower MAX_CONNS)", ceil, limit)
	}
	return n, nil
}

func nonNegative(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("must be a whole number, 0 or more (0 = off)")
	}
	return n, nil
}

func rate(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f != f || f > 1e9 {
		return 0, fmt.Errorf("must be a number of requests per second, 0 or more (0 = off)")
	}
	return f, nil
}

func proxyHops(v string) (trust bool, hops int, err error) {
	switch v {
	case "false", "0":
		return false, 0, nil
	case "true":
		return true, 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10 {
		return false, 0, fmt.Errorf("must be false, true, or the number of proxies in front (1-10)")
	}
	return true, n, nil
}

func boolean(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("must be true or false")
	}
	return b, nil
}

func nonZeroDuration(v string) (time.Duration, error) {
	d, err := duration(v)
	if err == nil && d == 0 {
		err = fmt.Errorf("must be longer than 0, such as 10s")
	}
	return d, err
}

// origins parses a CORS allow-list. Each entry must be an origin exactly
// as a browser sends it (scheme://host[:port], no path), since the check
// is a plain string comparison; "*" is refused on purpose: any site could
// then drive the API with a token it tricked out of a user.
func origins(v string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ToLower(o) != o {
			return nil, fmt.Errorf("%q is not an origin: write each as scheme://host[:port] in lower case, such as https://dash.example.com, comma-separated", o)
		}
		out = append(out, o)
	}
	return out, nil
}
