package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/testdb"
)

// hookTexts is a webhook receiver that keeps every message as Discord's
// "content" carries it (Slack's "text" has its control characters, such
// as the rule's ">", escaped).
type hookTexts struct {
	mu    sync.Mutex
	texts []string
}

func (h *hookTexts) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.texts...)
}

// waitTexts waits until the receiver holds n texts (or fails after a
// minute: the servers check every 100 ms).
func (h *hookTexts) waitTexts(t *testing.T, n int, what string) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := h.all()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("%s: the webhook got %d notifications, want %d: %q", what, len(got), n, got)
			}
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAlertRuleEndToEndTwoInstances runs two `thermowatt serve` on one
// database, both checking alerts every 100 ms with the same webhook, and
// an operator who adds a rule with the CLI: a reading that crosses, one
// hovering within the hysteresis and one that clears must reach the
// webhook as exactly one ALERT and one RESOLVED, with the rule and the
// reading in the text, however the two checkers interleave.
func TestAlertRuleEndToEndTwoInstances(t *testing.T) {
	dbs := map[string]map[string]string{"sqlite": {"DATA_DIR": t.TempDir()}}
	if os.Getenv("TEST_DATABASE_URL") != "" {
		dbs["postgres"] = map[string]string{"DATABASE_URL": testdb.NewPostgresDatabase(t)}
	}
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			hook := &hookTexts{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body struct{ Text, Content string }
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !strings.Contains(body.Text, "&gt;") {
					t.Errorf("webhook body: %+v %v, want the comparison escaped in text", body, err)
				}
				hook.mu.Lock()
				hook.texts = append(hook.texts, body.Content)
				hook.mu.Unlock()
			}))
			defer srv.Close()
			vars := map[string]string{"ADMIN_TOKEN": cliAdmin, "ALERT_WEBHOOK_URL": srv.URL, "ALERT_CHECK_INTERVAL": "100ms"}
			maps.Copy(vars, db)
			urlA, _, stopA := startServe(t, maps.Clone(vars))
			urlB, _, stopB := startServe(t, maps.Clone(vars))
			defer stopA()
			defer stopB()
			op := map[string]string{"THERMOWATT_URL": urlA, "THERMOWATT_TOKEN": cliAdmin, "DATA_DIR": filepath.Join(t.TempDir(), "nowhere")}

			out, errOut, err := cliRun(op, "device", "add", "freezer-1")
			if err != nil {
				t.Fatalf("device add: %v\n%s", err, errOut)
			}
			token := printedToken.FindString(out)
			if _, errOut, err := cliRun(op, "alerts", "rule", "add", "temp > 5", "--device", "freezer-1"); err == nil || !strings.Contains(errOut+err.Error(), `unknown metric "temp"`) {
				t.Fatalf("a rule on an unknown metric: %v %s, want refused with the metric named", err, errOut)
			}
			out, errOut, err = cliRun(op, "alerts", "rule", "add", "temperature > -5", "--for", "0s", "--hysteresis", "1", "--device", "freezer-1",
				"--severity", "critical", "--message", "freezer door open?")
			if err != nil || out != "alert rule 1: temperature > -5 on freezer-1 (critical)\n" {
				t.Fatalf("alerts rule add: %q %v\n%s", out, err, errOut)
			}

			// Readings go to instance B; both instances check.
			send := func(temp float64) {
				t.Helper()
				body := fmt.Sprintf(`{"deviceId":"freezer-1","recordedAt":%q,"temperature":%g}`, time.Now().UTC().Format(time.RFC3339Nano), temp)
				req, _ := http.NewRequest("POST", urlB+"/api/measurements", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode != 201 {
					t.Fatalf("send %g: %v %v", temp, res, err)
				}
				res.Body.Close()
			}
			send(-2.5) // crosses -5
			texts := hook.waitTexts(t, 1, "after crossing")
			for _, want := range []string{"[thermowatt] ALERT #", "freezer-1: temperature -2.5 °C > -5 °C", "critical, rule #1: freezer door open?"} {
				if !strings.Contains(texts[0], want) {
					t.Errorf("the alert's text %q lacks %q", texts[0], want)
				}
			}
			send(-5.5) // back under the threshold, but within the hysteresis: still open
			time.Sleep(time.Second)
			hook.waitTexts(t, 1, "hovering within the hysteresis")
			send(-7) // beyond the hysteresis: resolves
			texts = hook.waitTexts(t, 2, "after clearing")
			if !strings.Contains(texts[1], "RESOLVED freezer-1 is back within its alert rule") || !strings.Contains(texts[1], "freezer door open?") {
				t.Errorf("the resolution's text: %q", texts[1])
			}
			time.Sleep(time.Second) // many more checks on both instances
			hook.waitTexts(t, 2, "a second later")

			out, _, err = cliRun(op, "alerts", "rule", "list")
			if err != nil || !strings.Contains(out, "temperature > -5") || !strings.Contains(out, "freezer-1") {
				t.Fatalf("alerts rule list: %q %v", out, err)
			}
			if out, _, err = cliRun(op, "alerts", "rule", "rm", "1"); err != nil || !strings.Contains(out, "alert rule 1 deleted") {
				t.Fatalf("alerts rule rm: %q %v", out, err)
			}
			if _, errOut, err = cliRun(op, "alerts", "rule", "rm", "1"); err == nil || !strings.Contains(errOut+err.Error(), "no alert rule 1") {
				t.Fatalf("alerts rule rm again: %v %s, want not found", err, errOut)
			}
		})
	}
}

// TestAlertRuleRateAddListRemove adds a rate rule with the CLI
// ('temperature rate > 2' --over 5m), sees the refusals of a rate without
// its window and of a rate of an energy total, sends two readings five
// minutes apart that rise by 3 °C, and finds the webhook's text saying so;
// then lists the rule and removes it.
func TestAlertRuleRateAddListRemove(t *testing.T) {
	hook := &hookTexts{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Content string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		hook.mu.Lock()
		hook.texts = append(hook.texts, body.Content)
		hook.mu.Unlock()
	}))
	defer srv.Close()
	url, _, stop := startServe(t, map[string]string{"ADMIN_TOKEN": cliAdmin, "ALERT_WEBHOOK_URL": srv.URL,
		"ALERT_CHECK_INTERVAL": "100ms", "DATA_DIR": t.TempDir()})
	defer stop()
	op := map[string]string{"THERMOWATT_URL": url, "THERMOWATT_TOKEN": cliAdmin, "DATA_DIR": filepath.Join(t.TempDir(), "nowhere")}
	out, errOut, err := cliRun(op, "device", "add", "oven-1")
	if err != nil {
		t.Fatalf("device add: %v\n%s", err, errOut)
	}
	token := printedToken.FindString(out)

	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"temperature rate > 2", "--all"}, "add --over 5m"},
		{[]string{"temperature > 2", "--over", "5m", "--all"}, "write the condition as 'temperature rate > 2'"},
		{[]string{"energy_wh_per_day rate > 2", "--over", "5m", "--all"}, "a rate of it is not watched"},
		{[]string{"temperature rate > 2", "--over", "2h", "--all"}, "rate window 2h0m0s is longer than 1h"},
		{[]string{"temperature rate > 2", "--over", "soon", "--all"}, `rate window "soon" is not a duration`},
	}
	for _, r := range refusals {
		if _, errOut, err := cliRun(op, append([]string{"alerts", "rule", "add"}, r.args...)...); err == nil || !strings.Contains(errOut+err.Error(), r.want) {
			t.Errorf("alerts rule add %q: %v %s, want refused with %q", r.args, err, errOut, r.want)
		}
	}
	out, errOut, err = cliRun(op, "alerts", "rule", "add", "temperature rate > 2", "--over", "5m", "--for", "0s", "--all", "--message", "door open?")
	if err != nil || out != "alert rule 1: temperature rate > 2 over 5m on all devices (warning)\n" {
		t.Fatalf("alerts rule add: %q %v\n%s", out, err, errOut)
	}

	send := func(at time.Time, temp float64) {
		t.Helper()
		body := fmt.Sprintf(`{"deviceId":"oven-1","recordedAt":%q,"temperature":%g}`, at.UTC().Format(time.RFC3339Nano), temp)
		req, _ := http.NewRequest("POST", url+"/api/measurements", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("send %g: %v %v", temp, res, err)
		}
		res.Body.Close()
	}
	// The first is the baseline (recorded before the rule existed: not
	// judged itself); the second, 5 min later, rose 3 °C: the rule fires.
	send(time.Now().Add(-5*time.Minute), 20)
	send(time.Now(), 23)
	texts := hook.waitTexts(t, 1, "after a rise of 3 °C in 5 min")
	for _, want := range []string{"[thermowatt] ALERT #", "oven-1: temperature rose 3 °C in 5m", "(rate > 2 °C over 5m", "warning, rule #1: door open?"} {
		if !strings.Contains(texts[0], want) {
			t.Errorf("the alert's text %q lacks %q", texts[0], want)
		}
	}

	out, _, err = cliRun(op, "alerts", "rule", "list")
	if err != nil || !strings.Contains(out, "temperature rate > 2 over 5m") || !strings.Contains(out, "oven-1") {
		t.Fatalf("alerts rule list: %q %v", out, err)
	}
	if out, _, err = cliRun(op, "alerts", "rule", "rm", "1"); err != nil || !strings.Contains(out, "alert rule 1 deleted") {
		t.Fatalf("alerts rule rm: %q %v", out, err)
	}
	texts = hook.waitTexts(t, 2, "after removing the rule")
	if !strings.Contains(texts[1], "RESOLVED oven-1") {
		t.Errorf("the resolution's text: %q", texts[1])
	}
	if out, _, err = cliRun(op, "alerts", "rule", "list"); err != nil || strings.Contains(out, "rate") {
		t.Fatalf("alerts rule list after rm: %q %v", out, err)
	}
}
