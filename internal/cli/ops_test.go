package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

const opsAdmin = "admin-token-for-tests-0123"

// call makes one API request to a running serve.
func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+opsAdmin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitFor polls cond until it holds. The deadline is generous: it only
// catches a hang, and a busy machine must not fail the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve's own ticker opens a silent alert and posts it to the webhook;
// while the webhook hangs and then fails, readings are still taken in at
// once, and the failed delivery is recorded for a later retry.
func TestServeAlertsWhileWebhookHangsAndIngestGoesOn(t *testing.T) {
	var (
		mu       sync.Mutex
		attempts []string
	)
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Text string }
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		attempts = append(attempts, body.Text)
		mu.Unlock()
		<-release // hang, as a webhook behind a dead proxy would
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer hook.Close()
	defer close(release)
	gotAttempts := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), attempts...) }

	url, _, _ := startServe(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": opsAdmin,
		"ALERT_WEBHOOK_URL": hook.URL, "ALERT_CHECK_INTERVAL": "100ms", "ALERT_MISSED_INTERVALS": "1",
	})
	if st, body := call(t, "POST", url+"/api/devices", `{"id":"node-1"}`); st != 201 {
		t.Fatalf("register: %d %s", st, body)
	}
	// The shortest interval a device may have (interval_s), so that one
	// missed makes it silent.
	if st, body := call(t, "PUT", url+"/api/devices/node-1/settings", `{"interval_s":10}`); st != 200 {
		t.Fatalf("set interval: %d %s", st, body)
	}
	post := func(i int) {
		t.Helper()
		body := fmt.Sprintf(`{"deviceId":"node-1","recordedAt":%q,"temperature":20}`, time.Now().UTC().Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
		if st, b := call(t, "POST", url+"/api/measurements", body); st != 201 {
			t.Fatalf("ingest %d: %d %s", i, st, b)
		}
	}
	post(0)
	waitFor(t, "the silent alert to reach the webhook", func() bool { return len(gotAttempts()) == 1 })
	if a := gotAttempts()[0]; !strings.Contains(a, "node-1 is silent") {
		t.Errorf("webhook got %q", a)
	}
	// The webhook is hanging right now; ingest does not wait for it.
	for i := 1; i <= 5; i++ {
		post(i)
	}
	release <- struct{}{} // let the hanging request fail (502)
	waitFor(t, "the failed delivery to be recorded", func() bool {
		_, body := call(t, "GET", url+"/api/alerts?state=all", "")
		return strings.Contains(body, "502")
	})
	// Data came back: the alert resolves; both transitions wait for the
	// retry (30 s later), so the webhook has seen only the one attempt.
	waitFor(t, "the alert to resolve", func() bool {
		_, body := call(t, "GET", url+"/api/alerts?state=open", "")
		return strings.Contains(body, `"items":[]`)
	})
	if n := len(gotAttempts()); n != 1 {
		t.Errorf("webhook attempts = %d, want 1 before the backoff ends", n)
	}
	_, metrics := call(t, "GET", url+"/metrics", "")
	if !regexp.MustCompile(`thermowatt_alert_notifications_total\{result="failed"\} 1`).MatchString(metrics) {
		t.Errorf("metrics lack the failed notification:\n%s", grepLines(metrics, "thermowatt_alert"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The cron jobs' commands work on the database (no server needed) and,
// with THERMOWATT_URL, through the server, alike; a device's interval is
// its interval_s setting.
func TestAlertsCheckRetentionAndIntervalCommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"DATA_DIR": dir, "RETENTION_DAYS": "10", "RAW_RETENTION_DAYS": "2"}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), args, envOf(vars), nil, &out, io.Discard)
		return out.String(), err
	}
	if _, err := run("retention", "run"); err == nil || !strings.Contains(err.Error(), "no database at") {
		t.Fatalf("retention run where no database is: %v", err)
	}
	// Readings from 15 days ago to now, one a day, and raw rows.
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "thermowatt.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := st.CreateDevice(context.Background(), "node-1", now.AddDate(0, 0, -30)); err != nil {
		t.Fatal(err)
	}
	var rs []thermowatt.Reading
	for d := range 16 {
		temp := float64(d)
		// Day 10 is 1 h inside the window, so it stays.
		at := now.AddDate(0, 0, -d)
		if d == 10 {
			at = at.Add(time.Hour)
		}
		rs = append(rs, thermowatt.Reading{DeviceID: "node-1", RecordedAt: at, Temperature: &temp})
	}
	if _, err := st.InsertReadings(context.Background(), rs, now.AddDate(0, 0, -20)); err != nil {
		t.Fatal(err)
	}
	for _, days := range []int{5, 3, 1} {
		if _, err := st.ArchiveRaw(context.Background(), store.RawRecord{ReceivedAt: now.AddDate(0, 0, -days), Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	out, err := run("retention", "run", "--batch", "2")
	if err != nil {
		t.Fatalf("retention run: %v\n%s", err, out)
	}
	for _, want := range []string{"(RETENTION_DAYS=10): removed 5 in 3 batches", "(RAW_RETENTION_DAYS=2): removed 2 in 2 batches"} {
		if !strings.Contains(out, want) {
			t.Errorf("retention output lacks %q:\n%s", want, out)
		}
	}
	// node-1 last sent 20 days ago (receive time): silent.
	out, err = run("alerts", "check")
	if err != nil || !strings.Contains(out, "checked 1 devices: opened 1 (node-1/silent)") || !strings.Contains(out, "no ALERT_WEBHOOK_URL") {
		t.Errorf("alerts check: %v\n%s", err, out)
	}

	// The same through the server, from a laptop.
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": dir, "ADMIN_TOKEN": cliAdmin, "RETENTION_DAYS": "10", "RAW_RETENTION_DAYS": "2"})
	vars = map[string]string{"THERMOWATT_URL": url, "THERMOWATT_TOKEN": cliAdmin}
	if out, err := run("retention", "run"); err != nil || !strings.Contains(out, "(RETENTION_DAYS=10): removed 0 in 1 batches") {
		t.Errorf("retention run through the server: %v\n%s", err, out)
	}
	if out, err := run("alerts", "check"); err != nil || !strings.Contains(out, "checked 1 devices: opened 0") {
		t.Errorf("alerts check through the server opened again: %v\n%s", err, out)
	}
	if out, _ := run("alerts", "list"); !strings.Contains(out, "node-1") || !strings.Contains(out, "silent") {
		t.Errorf("alerts list:\n%s", out)
	}
	list, _ := run("device", "list")
	if !regexp.MustCompile(`node-1 .* 11  +silent +5m0s +- +-/0 +- +- +-\n`).MatchString(list) {
		t.Errorf("device list after retention, want 11 readings, 5 min:\n%s", list)
	}

	// One interval: the device's interval_s is what the list (and alerts,
	// and energy) go by.
	if _, err := run("device", "set-interval", "node-1", "90s"); ExitCode(err) != 2 || !strings.Contains(err.Error(), "interval_s") {
		t.Errorf("set-interval: %v, want a usage error naming interval_s", err)
	}
	if _, err := run("settings", "set", "--device", "node-1", "interval_s=90"); err != nil {
		t.Fatal(err)
	}
	if list, _ := run("device", "list"); !regexp.MustCompile(`node-1 .* 11  +silent +1m30s `).MatchString(list) {
		t.Errorf("device list after interval_s=90, want 1m30s:\n%s", list)
	}
}
