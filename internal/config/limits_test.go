package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimitDefaultsAreOnAndGenerous(t *testing.T) {
	c, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	// A device flushing a backlog sends 500-reading batches back to back;
	// a dashboard fetches a few charts at once. Neither may meet a 429.
	if l.RatePerToken < 5 || l.BurstPerToken < 20 || l.RatePerAddress < l.RatePerToken || l.BurstPerAddress < l.BurstPerToken {
		t.Errorf("rate limits too tight or off by default: %+v", l)
	}
	if l.MaxBodyBytes != 1<<20 || l.MaxDBConcurrency < 1 || l.MaxIngestQueue < 1 || l.DBWait <= 0 || l.DBTimeout <= 0 {
		t.Errorf("bounds off by default: %+v", l)
	}
	if l.ReadHeaderTimeout != 10*time.Second || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 || l.MaxHeaderBytes <= 0 {
		t.Errorf("server timeouts: %+v", l)
	}
	if len(l.CORSOrigins) != 0 || l.TrustProxyHeaders || l.Pprof {
		t.Errorf("browser and proxy settings must default to the strict side: %+v", l)
	}
}

// The connection caps are on by default, the total well below the
// process's open-file limit; an explicit total that would leave the
// database and files no descriptors is refused with what to do.
func TestConnectionCaps(t *testing.T) {
	defer func(f func() uint64) { openFileLimit = f }(openFileLimit)
	load := func(limit uint64, env map[string]string) (Limits, error) {
		openFileLimit = func() uint64 { return limit }
		c, err := Load(func(k string) string { return env[k] })
		return c.Limits, err
	}
	for limit, want := range map[uint64]int{1024: 512, 20000: 4096, 1 << 20: 4096, 0: 4096} {
		l, err := load(limit, nil)
		if err != nil || l.MaxConns != want || l.MaxConnsPerAddress != 100 {
			t.Errorf("open-file limit %d: MAX_CONNS %d, MAX_CONNS_IP %d, want %d and 100 (%v)", limit, l.MaxConns, l.MaxConnsPerAddress, want, err)
		}
	}
	if l, _ := load(20000, nil); l.IdleTimeout != 45*time.Second {
		t.Errorf("IDLE_TIMEOUT default %v, want 45s", l.IdleTimeout)
	}
	if l, err := load(20000, map[string]string{"MAX_CONNS": "10000", "MAX_CONNS_IP": "0"}); err != nil || l.MaxConns != 10000 || l.MaxConnsPerAddress != 0 {
		t.Errorf("MAX_CONNS=10000 MAX_CONNS_IP=0: %+v %v", l, err)
	}
	if _, err := load(20000, map[string]string{"MAX_CONNS": "19900"}); err == nil || !strings.Contains(err.Error(), "MAX_CONNS") || !strings.Contains(err.Error(), "at most 19744") || !strings.Contains(err.Error(), "ulimit -n") {
		t.Errorf("MAX_CONNS above the open-file limit less the reserve: %v", err)
	}
	for k, v := range map[string]string{"MAX_CONNS": "0", "MAX_CONNS_IP": "-1"} {
		if _, err := load(20000, map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s accepted: %v", k, v, err)
		}
	}
	if _, err := load(20000, map[string]string{"MAX_CONNS": "many"}); err == nil || !strings.Contains(err.Error(), "auto or a number") {
		t.Errorf("MAX_CONNS=many: %v", err)
	}
}

func TestRateLimitZeroAndOrigins(t *testing.T) {
	env := map[string]string{"RATE_LIMIT": "0", "CORS_ORIGINS": " https://a.example.com, http://localhost:5173 ,"}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil || c.Limits.RatePerToken != 0 || strings.Join(c.Limits.CORSOrigins, " ") != "https://a.example.com http://localhost:5173" {
		t.Fatalf("%+v %v", c.Limits, err)
	}
	for v, want := range map[string][2]int{"false": {0, 0}, "0": {0, 0}, "true": {1, 0}, "2": {1, 2}} {
		c, err := Load(func(k string) string {
			if k == "TRUST_PROXY_HEADERS" {
				return v
			}
			return ""
		})
		got := [2]int{0, c.Limits.ProxyHops}
		if c.Limits.TrustProxyHeaders {
			got[0] = 1
		}
		if err != nil || got != want {
			t.Errorf("TRUST_PROXY_HEADERS=%s: trust, hops = %v, want %v (%v)", v, got, want, err)
		}
	}
	for _, bad := range []string{"*", "https://a.example.com/", "a.example.com", "https://A.example.com", "ftp://a.example.com", "https://a.example.com/path"} {
		_, err := Load(func(k string) string {
			if k == "CORS_ORIGINS" {
				return bad
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "CORS_ORIGINS") {
			t.Errorf("CORS_ORIGINS=%q accepted: %v", bad, err)
		}
	}
	for k, v := range map[string]string{"RATE_LIMIT": "-1", "RATE_LIMIT_BURST": "0", "MAX_DB_CONCURRENCY": "many",
		"READ_HEADER_TIMEOUT": "0s", "TRUST_PROXY_HEADERS": "11", "RATE_LIMIT_IP": "NaN"} {
		if _, err := Load(func(n string) string {
			if n == k {
				return v
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q accepted: %v", k, v, err)
		}
	}
}

// FuzzLoad: whatever the environment holds, Load never panics, never
// echoes a secret setting in its error, and what it accepts is usable.
func FuzzLoad(f *testing.F) {
	f.Add("8080", "10", "https://a.example.com", "10s", "secret-value-0123456789")
	f.Add("0", "0", "*", "-1s", "x")
	f.Add("65536", "1e309", "https://a.example.com,,http://[::1]:80", "1h", "")
	f.Fuzz(func(t *testing.T, port, rate, origins, timeout, admin string) {
		env := map[string]string{"PORT": port, "RATE_LIMIT": rate, "RATE_LIMIT_IP": rate, "CORS_ORIGINS": origins,
			"READ_HEADER_TIMEOUT": timeout, "DB_WAIT": timeout, "ADMIN_TOKEN": admin, "DATABASE_URL": admin}
		c, err := Load(func(k string) string { return env[k] })
		if err != nil {
			// Values are echoed after NAME=; a secret's never is.
			if strings.Contains(err.Error(), `ADMIN_TOKEN="`) || strings.Contains(err.Error(), `DATABASE_URL="`) {
				t.Fatalf("error echoes a secret: %v", err)
			}
			return
		}
		if c.Port < 0 || c.Port > 65535 || c.Limits.RatePerToken < 0 || c.Limits.ReadHeaderTimeout <= 0 || c.Limits.DBWait < 0 {
			t.Fatalf("accepted unusable settings: %+v", c)
		}
		for _, o := range c.Limits.CORSOrigins {
			if o == "*" || strings.ContainsAny(o, " ,") || !strings.Contains(o, "://") {
				t.Fatalf("accepted origin %q", o)
			}
		}
	})
}
