package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer that a test may read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

var listening = regexp.MustCompile(`listening on (http://localhost:\d+)`)

// laptop starts serve on the database in dir and returns the environment
// of an operator elsewhere: the server's URL and an admin token, no
// database at all.
func laptop(t *testing.T, dir string) map[string]string {
	t.Helper()
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": dir, "ADMIN_TOKEN": cliAdmin})
	return map[string]string{"THERMOWATT_URL": url, "THERMOWATT_TOKEN": cliAdmin, "DATA_DIR": filepath.Join(t.TempDir(), "nowhere")}
}

// startServe runs `thermowatt serve` through Run, as main does, and waits
// until /healthz answers. It returns the base URL, stdout, and a stop
// function that sends the equivalent of SIGTERM and waits for the exit.
func startServe(t *testing.T, vars map[string]string) (string, *syncBuffer, func() error) {
	t.Helper()
	vars["PORT"] = "0"
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"serve"}, envOf(vars), nil, out, io.Discard) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			if res, err := http.Get(m[1] + "/healthz"); err == nil && res.StatusCode == 200 {
				res.Body.Close()
				var once sync.Once
				var stopErr error
				stop := func() error {
					once.Do(func() { cancel(); stopErr = <-done })
					return stopErr
				}
				t.Cleanup(func() { stop() })
				return m[1], out, stop
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not become healthy:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var printedToken = regexp.MustCompile(`tw_[0-9a-f]{12}_[A-Za-z0-9_-]{32}`)

func TestFirstStartPrintsAnAdminTokenOnceAndItWorks(t *testing.T) {
	dir := t.TempDir()
	url, out, stop := startServe(t, map[string]string{"DATA_DIR": dir})
	admin := printedToken.FindString(out.String())
	if admin == "" {
		t.Fatalf("no admin token printed:\n%s", out)
	}
	req, _ := http.NewRequest("POST", url+"/api/devices", strings.NewReader(`{"id":"esp32-node-01"}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("printed admin token does not work: %v %v", err, res)
	}
	res.Body.Close()
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	_, out2, _ := startServe(t, map[string]string{"DATA_DIR": dir})
	if printedToken.MatchString(out2.String()) {
		t.Fatalf("second start printed a token again:\n%s", out2)
	}
}

func TestDeviceAndTokenCommands(t *testing.T) {
	vars := laptop(t, t.TempDir())
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), args, envOf(vars), nil, &out, io.Discard)
		return out.String(), err
	}
	tok, err := run("device", "add", "esp32-node-01")
	if err != nil || !printedToken.MatchString(tok) {
		t.Fatalf("device add: %q %v", tok, err)
	}
	if _, err := run("device", "add", "esp32-node-01"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("adding twice: %v", err)
	}
	if _, err := run("device", "add", "bad id"); ExitCode(err) != 2 {
		t.Fatalf("bad id: %v", err)
	}
	list, err := run("device", "list")
	if err != nil || !strings.Contains(list, "esp32-node-01") || !strings.Contains(list, "never") {
		t.Fatalf("device list: %q %v", list, err)
	}
	reader, err := run("token", "add", "--scope", "reader")
	if err != nil || !printedToken.MatchString(reader) {
		t.Fatalf("token add: %q %v", reader, err)
	}
	id := reader[3:15]
	tokens, _ := run("token", "list")
	if !strings.Contains(tokens, id) || strings.Contains(tokens, strings.TrimSpace(reader)) {
		t.Fatalf("token list must show ids, never secrets: %q", tokens)
	}
	if out, err := run("token", "revoke", id); err != nil || !strings.Contains(out, "revoked "+id) {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if _, err := run("token", "revoke", id); err == nil {
		t.Fatal("revoking twice must fail")
	}
	if _, err := run("token", "add", "--scope", "device"); ExitCode(err) != 2 {
		t.Fatalf("device scope: %v", err)
	}
	if _, err := run("nonsense"); ExitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
	// Nothing of it needed a database where the commands ran.
	if _, err := os.Stat(vars["DATA_DIR"]); err == nil {
		t.Errorf("the admin commands made a database at %s", vars["DATA_DIR"])
	}
	// Without a server they say what to set, and never make a database.
	delete(vars, "THERMOWATT_URL")
	if _, err := run("device", "list"); ExitCode(err) != 2 || !strings.Contains(err.Error(), "THERMOWATT_URL") {
		t.Errorf("device list without a server: %v", err)
	}
	if _, err := run("token", "add", "--scope", "admin"); err == nil || !strings.Contains(err.Error(), "no database at") {
		t.Errorf("token add where no database is: %v", err)
	}
	if _, err := os.Stat(vars["DATA_DIR"]); err == nil {
		t.Errorf("token add from another folder made a new database at %s", vars["DATA_DIR"])
	}
}

func TestShutdownFinishesInFlightRequests(t *testing.T) {
	url, _, stop := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": "admin-token-for-tests-0123"})
	// A slow client: the request is in flight, its body still arriving,
	// when SIGTERM comes. It must still be answered after its commit.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url+"/api/measurements", pr)
	req.Header.Set("Authorization", "Bearer admin-token-for-tests-0123")
	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- result{status: res.StatusCode, body: string(b)}
	}()
	recorded := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	fmt.Fprintf(pw, `{"deviceId":"n1","recordedAt":"%s",`, recorded)
	time.Sleep(200 * time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(200 * time.Millisecond)
	fmt.Fprint(pw, `"temperature":20}`)
	pw.Close()
	r := <-got
	if r.err != nil || r.status != 201 || !strings.Contains(r.body, `"accepted":1`) {
		t.Fatalf("in-flight request during shutdown: %+v", r)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestHelpFlagIsNotAnError(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"serve", "-h"}, envOf(nil), nil, &out, &errOut); err != nil {
		t.Fatalf("serve -h: %v", err)
	}
	if !strings.Contains(errOut.String(), "Usage: thermowatt serve") {
		t.Fatalf("no help printed: %q", errOut.String())
	}
}

// `thermowatt healthcheck` (the image's HEALTHCHECK) succeeds against a
// ready serve on PORT and fails where nothing answers.
func TestHealthcheckCommand(t *testing.T) {
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": cliAdmin})
	port := url[strings.LastIndex(url, ":")+1:]
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"healthcheck"}, envOf(map[string]string{"PORT": port}), nil, &out, io.Discard); err != nil || out.String() != "ready\n" {
		t.Fatalf("healthcheck of a ready serve: %v %q", err, out.String())
	}
	if err := Run(context.Background(), []string{"healthcheck", "--url", "http://127.0.0.1:1"}, envOf(nil), nil, &out, io.Discard); ExitCode(err) != 1 {
		t.Fatalf("healthcheck where nothing listens: %v, want exit 1", err)
	}
}
