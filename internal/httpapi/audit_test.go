package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// The log names tokens by their public id only, never by their secret,
// and says who did each admin action and what it was.
func TestLogsNameTokensByIDOnlyAndRecordAdminActions(t *testing.T) {
	logs := &lockedBuffer{}
	a := newLimitedAPI(t, testdb.OpenSQLite(t), config.Limits{}, logs)
	created := a.do("POST", "/api/devices", adminToken, `{"id":"n1"}`).json(t)
	dev, devID := created["token"].(string), created["tokenId"].(string)
	reader := a.do("POST", "/api/tokens", adminToken, `{"scope":"reader"}`).json(t)
	a.do("POST", "/api/measurements", dev, reading1("n1", 0))
	a.do("GET", "/api/measurements", reader["token"].(string), nil)
	a.do("GET", "/api/measurements", dev, nil)                                          // 403
	a.do("GET", "/api/devices", "tw_0123456789ab_ThisSecretMustNotBeLogged000000", nil) // 401
	a.do("GET", "/api/devices", "not-a-token-SecretToo", nil)                           // 401
	if r := a.do("DELETE", "/api/tokens/"+devID, adminToken, nil); r.Status != 204 {
		t.Fatalf("revoke: %d", r.Status)
	}

	secrets := []string{adminToken, dev, reader["token"].(string), "ThisSecretMustNotBeLogged", "SecretToo"}
	for _, s := range secrets[1:3] {
		secrets = append(secrets, s[len("tw_")+12+1:]) // the secret part alone
	}
	all := logs.b.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the log contains a token secret %q:\n%s", s, all)
		}
	}

	var registered, issued, revoked, requests int
	for _, l := range logs.lines(t) {
		switch {
		case l["msg"] == "admin action" && l["action"] == "device registered":
			registered++
			if l["by"] != auth.EnvAdminID || l["device"] != "n1" {
				t.Errorf("device registered without who or what: %v", l)
			}
		case l["msg"] == "admin action" && l["action"] == "token issued":
			issued++
			if l["by"] != auth.EnvAdminID || l["token"] == "" || l["scope"] == "" {
				t.Errorf("token issued without who or what: %v", l)
			}
		case l["msg"] == "admin action" && l["action"] == "token revoked":
			revoked++
			if l["by"] != auth.EnvAdminID || l["token"] != devID {
				t.Errorf("token revoked without who or what: %v", l)
			}
		case l["msg"] == "request":
			requests++
			if tok := fmt.Sprint(l["token"]); tok != "" && tok != auth.EnvAdminID && len(tok) != 12 {
				t.Errorf("request logged with token %q, want a 12-character id", tok)
			}
		}
	}
	if registered != 1 || issued != 2 || revoked != 1 || requests < 8 {
		t.Errorf("logged %d device registrations (want 1), %d token issues (want 2), %d revocations (want 1), %d requests (want 8+):\n%s",
			registered, issued, revoked, requests, all)
	}
}

func TestPprofOnlyWhenEnabledAndOnlyForAdmins(t *testing.T) {
	st := testdb.OpenSQLite(t)
	off := newLimitedAPI(t, st, config.Limits{}, nil)
	if r := off.do("GET", "/debug/pprof/goroutine?debug=1", adminToken, nil); bytes.Contains(r.Body, []byte("goroutine profile")) {
		t.Fatal("pprof served without PPROF=true")
	}
	on := newLimitedAPI(t, st, config.Limits{Pprof: true}, nil)
	reader := on.tokenOf("reader")
	if r := on.do("GET", "/debug/pprof/goroutine?debug=1", reader, nil); r.Status != 403 {
		t.Fatalf("pprof for a reader token: %d", r.Status)
	}
	if r := on.do("GET", "/debug/pprof/goroutine?debug=1", "", nil); r.Status != 401 {
		t.Fatalf("pprof without a token: %d", r.Status)
	}
	if r := on.do("GET", "/debug/pprof/goroutine?debug=1", adminToken, nil); r.Status != 200 || !bytes.Contains(r.Body, []byte("goroutine profile: total")) {
		t.Fatalf("pprof for an admin: %d %.200s", r.Status, r.Body)
	}
}
