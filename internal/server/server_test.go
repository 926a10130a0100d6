package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/server"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// The capabilities the server's jobs and handlers look for: a backend
// that loses one no longer compiles here, rather than going without the
// feature in silence (a token cache nobody tells of revocations, weeks
// with no partition).
var (
	_ store.RevocationWatcher   = (*postgres.Store)(nil)
	_ store.RevocationAwaiter   = (*postgres.Store)(nil)
	_ store.PartitionMaintainer = (*postgres.Store)(nil)
	_ store.RevocationWatcher   = (*sqlite.Store)(nil)
)

const admin = "server-test-admin-token-0123456789"

// syncBuffer is the server's log, read by the test once it failed.
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

func configFor(t *testing.T, backend string, vars map[string]string) config.Config {
	t.Helper()
	env := map[string]string{"PORT": "0", "ADMIN_TOKEN": admin, "DATA_DIR": t.TempDir(),
		// Every client here is 127.0.0.1: the rate limits are not what
		// these tests are about.
		"RATE_LIMIT": "0"}
	if backend == "postgres" {
		// Two committers, as serve on PostgreSQL.
		env["DATABASE_URL"] = os.Getenv("TEST_DATABASE_URL")
	}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Shutting down under load: clients post readings as fast as they can,
// the demo devices send theirs, the alert check and every other job run,
// and Shutdown comes in the middle. Every reading answered 201 is stored
// (nothing acknowledged is lost), every client's last call ends (an
// answer or a refused connection, never a hang), and once Shutdown has
// returned no goroutine of the server is left: not a job, a committer, a
// connection, nor a demo device. No reading is answered 500: on a fresh
// PostgreSQL database the partition job's first run moves the past
// partition's bound while these readings arrive, which once refused some
// (TestPartitionHistoryWhileIngesting in internal/store/postgres).
func TestShutdownUnderLoadLosesNothingAcknowledged(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			cfg := configFor(t, b.Name, map[string]string{"ALERT_CHECK_INTERVAL": "1s"})
			logs := &syncBuffer{}
			defer func() {
				if t.Failed() {
					t.Logf("the server's log:\n%s", logs.String())
				}
			}()
			srv, err := server.New(cfg, server.Deps{Store: st, Logger: slog.New(slog.NewTextHandler(logs, nil)), Demo: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			url := fmt.Sprintf("http://127.0.0.1:%d", srv.Port())
			transport := &http.Transport{MaxIdleConnsPerHost: 64}
			defer transport.CloseIdleConnections()
			client := &http.Client{Transport: transport, Timeout: time.Minute}

			const clients = 16
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			var (
				wg     sync.WaitGroup
				acked  atomic.Int64
				mu     sync.Mutex
				stored = map[string]bool{} // device id -> answered 201
			)
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; ; {
						id := fmt.Sprintf("load-%02d-%05d", i, n)
						body := fmt.Sprintf(`{"deviceId":%q,"recordedAt":%q,"temperature":20.5}`, id, at.Format(time.RFC3339))
						req, _ := http.NewRequest("POST", url+"/api/measurements", strings.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+admin)
						res, err := client.Do(req)
						if err != nil {
							return // the server has closed its port: nothing was acknowledged
						}
						answer, _ := io.ReadAll(res.Body)
						res.Body.Close()
						ok := res.StatusCode == http.StatusCreated
						mu.Lock()
						stored[id] = stored[id] || ok
						mu.Unlock()
						switch {
						case ok:
							acked.Add(1)
							n++
						case res.StatusCode == http.StatusServiceUnavailable:
							return // shutting down: the device retries later, elsewhere
						default:
							t.Errorf("client %d: %d %s", i, res.StatusCode, answer)
							return
						}
					}
				}()
			}
			for acked.Load() < 10*clients {
				time.Sleep(5 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			clientsDone := make(chan struct{})
			go func() { wg.Wait(); close(clientsDone) }()
			select {
			case <-clientsDone:
			case <-ctx.Done():
				t.Fatal("a client's request neither answered nor refused a minute after Shutdown returned")
			}

			rows, err := st.QueryReadings(context.Background(), store.Query{Limit: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			inStore := make(map[string]bool, len(rows))
			for _, r := range rows {
				inStore[r.DeviceID] = true
			}
			lost := 0
			for id, ok := range stored {
				if ok && !inStore[id] {
					lost++
					t.Errorf("reading of %s answered 201 but not stored", id)
				}
			}
			t.Logf("%d readings acknowledged before and during Shutdown, %d lost", acked.Load(), lost)

			transport.CloseIdleConnections()
			if left := serverGoroutines(t); left != "" {
				t.Fatalf("goroutines of the server still running after Shutdown returned:\n%s", left)
			}
		})
	}
}

// serverGoroutines returns the stacks of the goroutines the server may
// start that are still running: its jobs and committers, HTTP serving,
// the demo devices. The stores' own (the SQLite checkpointer, the pool)
// belong to the store, closed after the server; goroutines on their way
// out get a few seconds.
func serverGoroutines(t *testing.T) string {
	t.Helper()
	ours := []string{"internal/server.", "internal/ingest.", "internal/httpapi.", "internal/simulate.",
		"internal/alerts.", "internal/connlimit.", "internal/store.Run", "internal/store.Follow",
		"WatchRevocations", "MaintainPartitions", "PartitionHistory", "net/http.(*conn).serve", "net/http.(*Server).Serve"}
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var b bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
			t.Fatal(err)
		}
		left = left[:0]
		for _, g := range strings.Split(b.String(), "\n\n") {
			if strings.Contains(g, "testing.tRunner") || strings.Contains(g, "serverGoroutines") {
				continue // the test itself
			}
			for _, s := range ours {
				if strings.Contains(g, s) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
	}
}

// A server made but never started (serve stops between New and Start
// when it cannot print the dashboard link) shuts down at once and frees
// its port.
func TestShutdownWithoutStart(t *testing.T) {
	st := testdb.OpenSQLite(t)
	cfg := configFor(t, "sqlite", nil)
	srv, err := server.New(cfg, server.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Port()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed after Shutdown")
	}
	cfg.Port = port
	again, err := server.New(cfg, server.Deps{Store: st})
	if err != nil {
		t.Fatalf("port %d still held after Shutdown: %v", port, err)
	}
	if err := again.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := serverGoroutines(t); left != "" {
		t.Fatalf("goroutines left:\n%s", left)
	}
}
