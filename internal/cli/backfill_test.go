package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

const cliAdmin = "admin-token-for-cli-tests-0123"

func writeFirmwareCSVs(t *testing.T, n int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	var temp, elect strings.Builder
	temp.WriteString("recorded_at,boot,uptime_s,temperature_c,pressure_hpa\n")
	elect.WriteString("recorded_at,boot,uptime_s,voltage_v,current_ma,power_mw\n")
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := t0.Add(time.Duration(i) * 5 * time.Minute).Format(time.RFC3339)
		fmt.Fprintf(&temp, "%s,1,%d,%.2f,1012.5\n", at, i*300, 20+float64(i%10)/10)
		fmt.Fprintf(&elect, "%s,1,%d,4.98,120.4,600.5\n", at, i*300)
	}
	temp.WriteString("2025-06-31T00:00:00Z,1,0,20,1000\n") // June has 30 days
	tp, ep := filepath.Join(dir, "temp.csv"), filepath.Join(dir, "elect.csv")
	os.WriteFile(tp, []byte(temp.String()), 0o644)
	os.WriteFile(ep, []byte(elect.String()), 0o644)
	return tp, ep
}

func TestBackfillCommandTwiceAddsNothingTheSecondTime(t *testing.T) {
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": cliAdmin})
	temp, elect := writeFirmwareCSVs(t, 1200)
	run := func(vars map[string]string, args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), args, envOf(vars), nil, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	withToken := map[string]string{"THERMOWATT_TOKEN": cliAdmin}

	// Flags may follow the files, as people type them.
	out, progress, err := run(withToken, "backfill", temp, elect, "--url", url, "--device", "esp32-node-01")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rows read:   2401 from 2 file(s)", "readings:    1200", "sent:        1200 in 3 batches", "accepted:    1200", "duplicates:  0",
		"rejected:    1 (1 input lines skipped, 0 readings refused)", "temp.csv:1202: recorded_at \"2025-06-31T00:00:00Z\": impossible date or time (day out of range)"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run: no %q in\n%s", want, out)
		}
	}
	if !strings.Contains(progress, "backfill: 1200/1200 readings 100%") {
		t.Errorf("no plain progress line on a non-terminal:\n%s", progress)
	}
	out, _, err = run(withToken, "backfill", "--url", url, "--device", "esp32-node-01", temp, elect)
	if err != nil || !strings.Contains(out, "accepted:    0\nduplicates:  1200 (already stored)") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	list, _, _ := run(map[string]string{"DATA_DIR": "unused"}, "help")
	if !strings.Contains(list, "backfill") || !strings.Contains(list, "simulate") {
		t.Errorf("help lists the commands:\n%s", list)
	}

	// Without a token: a usage error naming the variable; a dry run needs none.
	if _, _, err := run(nil, "backfill", "--url", url, "--device", "x", temp); ExitCode(err) != 2 || !strings.Contains(err.Error(), "THERMOWATT_TOKEN") {
		t.Fatalf("missing token: %v", err)
	}
	out, _, err = run(nil, "backfill", "--dry-run", "--device", "x", temp, elect)
	if err != nil || !strings.Contains(out, "dry run:     nothing sent; 1200 readings would be sent") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if _, _, err := run(nil, "backfill", "--dry-run", "--device", "x", "--tz", "Mars/Olympus", temp); ExitCode(err) != 2 {
		t.Fatalf("bad --tz: %v", err)
	}
}

// startServeArgs is startServe with extra serve flags.
func startServeArgs(t *testing.T, vars map[string]string, args ...string) (string, *syncBuffer, func() error) {
	t.Helper()
	vars["PORT"] = "0"
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, append([]string{"serve"}, args...), envOf(vars), nil, out, io.Discard) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			return m[1], out, stop
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serve did not start:\n%s", out.String())
	return "", nil, nil
}

func TestServeDemoFeedsSimulatedDevicesThroughTheAPI(t *testing.T) {
	vars := map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": cliAdmin}
	url, out, stop := startServeArgs(t, vars, "--demo")
	var devices struct {
		Items []struct {
			ID           string `json:"id"`
			ReadingCount int    `json:"readingCount"`
		} `json:"items"`
	}
	// A demo device may lose Wi-Fi for up to 42 intervals of 5 s (3.5 min)
	// or reboot while it sends its history; it delivers once back.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		req, _ := http.NewRequest("GET", url+"/api/devices", nil)
		req.Header.Set("Authorization", "Bearer "+cliAdmin)
		if res, err := http.DefaultClient.Do(req); err == nil {
			json.NewDecoder(res.Body).Decode(&devices)
			res.Body.Close()
		}
		full := 0
		for _, d := range devices.Items {
			if strings.HasPrefix(d.ID, "demo-") && d.ReadingCount > 1440 { // two hours of history and live readings
				full++
			}
		}
		if full == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo devices did not deliver history and live readings: %+v\n%s", devices, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "demo: 3 simulated devices") {
		t.Errorf("serve --demo does not say what it does:\n%s", out)
	}
	// The history went in without tripping the server's own rate limits
	// (each request's status is in serve's log).
	if n := strings.Count(out.String(), `"status":429`); n > 0 {
		t.Errorf("the demo devices were answered 429 by their own server %d times", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Their device tokens were revoked with the demo.
	st, err := sqlite.Open(context.Background(), filepath.Join(vars["DATA_DIR"], "thermowatt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokens, err := st.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tokens {
		if strings.HasPrefix(tk.DeviceID, "demo-") && tk.RevokedAt == nil {
			t.Errorf("demo token %s of %s still active after stop", tk.ID, tk.DeviceID)
		}
	}
}

func TestSimulateCommandSendsReadings(t *testing.T) {
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": cliAdmin})
	var out, errOut bytes.Buffer
	err := Run(context.Background(), []string{"simulate", "--url", url, "--devices", "2", "--interval", "20ms", "--duration", "4s", "--history", "1s", "--seed", "3"},
		envOf(map[string]string{"THERMOWATT_TOKEN": cliAdmin}), nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 devices: measured") || strings.Contains(out.String(), "accepted 0,") {
		t.Fatalf("simulate stats: %s\n%s", out.String(), errOut.String())
	}
	if err := Run(context.Background(), []string{"simulate", "--url", url}, envOf(nil), nil, &out, &errOut); ExitCode(err) != 2 {
		t.Fatalf("no token: %v", err)
	}
}

// The README's backfill example runs on the files it names.
func TestBackfillExampleFiles(t *testing.T) {
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": cliAdmin})
	dir := t.TempDir() // the checkpoint lands next to the first file: not in the repository
	var files []string
	for _, name := range []string{"temp.csv", "elect.csv"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "backfill", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.Join(dir, name))
		os.WriteFile(files[len(files)-1], raw, 0o644)
	}
	var out bytes.Buffer
	args := append([]string{"backfill", "--url", url, "--device", "esp32-node-01"}, files...)
	if err := Run(context.Background(), args, envOf(map[string]string{"THERMOWATT_TOKEN": cliAdmin}), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "accepted:    12") || !strings.Contains(out.String(), "rejected:    0") {
		t.Fatalf("backfill of examples/backfill:\n%s", out.String())
	}
}
