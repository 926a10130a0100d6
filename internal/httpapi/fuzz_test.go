package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
)

// The parsers here take input straight from the network. Each fuzz target
// checks that its parser never panics and that what it accepts is sound.

// FuzzDecodeCursor: a cursor the server did not make is refused or decodes
// to a position; one it made decodes back to the same position.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(thermowatt.Stored{ID: 42, Reading: thermowatt.Reading{RecordedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}))
	f.Add("bm9wZQ")
	f.Add("")
	f.Add("LTEuLTE") // "-1.-1"
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		if c.ID < 0 || c.RecordedAt.Before(time.Unix(0, 0)) || c.RecordedAt.Year() > 9999 {
			t.Fatalf("cursor %q decodes to %+v, outside what any stored reading has", s, c)
		}
		again, err := decodeCursor(encodeCursor(thermowatt.Stored{ID: c.ID, Reading: thermowatt.Reading{RecordedAt: c.RecordedAt}}))
		if err != nil || again != c {
			t.Fatalf("cursor %q -> %+v does not round-trip: %+v %v", s, c, again, err)
		}
	})
}

// FuzzParseQuery: any query string is refused with a 400 or gives a
// query within bounds.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"deviceId=n1&from=2025-02-05T09:30:00%2B09:00&to=2026-01-01T00:00:00Z&limit=10",
		"limit=0", "limit=1001", "from=yesterday", "cursor=bm9wZQ", "limit=%", "from=2025-02-05T09:30:00.999999999Z", ";;&&=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/api/measurements", nil)
		r.URL.RawQuery = raw
		q, err := parseQuery(r)
		if err != nil {
			if he, ok := err.(*Error); !ok || he.Status != http.StatusBadRequest || he.Message == "" {
				t.Fatalf("%q: error %v is not a 400 with a message", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > maxLimit {
			t.Fatalf("%q: limit %d", raw, q.Limit)
		}
	})
}

// FuzzPresentedToken: the token is taken from the headers without
// surrounding space, only from a Bearer scheme, and a non-Bearer
// Authorization header is never overridden by X-API-Key.
func FuzzPresentedToken(f *testing.F) {
	f.Add("Bearer tw_0123456789ab_x", "")
	f.Add("bearer   tw_0123456789ab_x  ", "other")
	f.Add("Basic dXNlcjpwYXNz", "tw_0123456789ab_x")
	f.Add("", " tw_0123456789ab_x ")
	f.Add("Bearer", "")
	f.Fuzz(func(t *testing.T, authz, apiKey string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{authz}
		r.Header["X-Api-Key"] = []string{apiKey}
		tok := presentedToken(r)
		if tok != strings.TrimSpace(tok) {
			t.Fatalf("token %q keeps surrounding space", tok)
		}
		if authz != "" && tok != "" && !strings.Contains(authz, tok) {
			t.Fatalf("Authorization %q present, token %q taken from elsewhere", authz, tok)
		}
	})
}

// FuzzClientAddress: the rate-limit key is never empty, and a client
// cannot choose it through X-Forwarded-For unless proxies are trusted.
func FuzzClientAddress(f *testing.F) {
	f.Add("192.0.2.1:1234", "203.0.113.5, 10.0.0.1")
	f.Add("[2001:db8::1]:443", "2001:db8:1:2::7")
	f.Add("garbage", "::ffff:192.0.2.1")
	f.Add("", ",,,")
	f.Add("[fe80::1%eth0]:80", "fe80::1%25eth0")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		untrusted := clientAddress(r, false, 0)
		r.Header.Del("X-Forwarded-For")
		if untrusted != clientAddress(r, false, 0) {
			t.Fatalf("untrusted X-Forwarded-For %q changed the key", xff)
		}
		r.Header.Set("X-Forwarded-For", xff)
		first, second := clientAddress(r, true, 0), clientAddress(r, true, 2)
		if remote != "" && (untrusted == "" || first == "" || second == "") {
			t.Fatalf("empty key for remote %q xff %q", remote, xff)
		}
		// With hops, what a client prepends cannot change its key.
		r.Header.Set("X-Forwarded-For", "198.51.100.77, "+xff)
		if strings.Count(xff, ",") >= 1 && clientAddress(r, true, 2) != second {
			t.Fatalf("a prepended entry changed the key with 2 hops: xff %q", xff)
		}
	})
}

// FuzzCORSOriginCheck: only an origin on the list gets an
// Access-Control-Allow-Origin, and then only its own.
func FuzzCORSOriginCheck(f *testing.F) {
	f.Add("https://dash.example.com", "OPTIONS")
	f.Add("https://dash.example.com.evil", "GET")
	f.Add("null", "OPTIONS")
	f.Fuzz(func(t *testing.T, origin, method string) {
		if !validMethod(method) {
			return
		}
		h := cors([]string{"https://dash.example.com"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		r := httptest.NewRequest("GET", "/api/measurements", nil)
		r.Method = method
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("Access-Control-Allow-Origin")
		if got != "" && (origin != "https://dash.example.com" || got != origin) {
			t.Fatalf("origin %q allowed as %q", origin, got)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	_, err := url.Parse("/" + m)
	return err == nil
}
