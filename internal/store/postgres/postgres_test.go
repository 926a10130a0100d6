package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/storetest"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

func TestConformance(t *testing.T) {
	admin := adminURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), freshDatabase(t, admin))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// The suite again with every day compacted after every insert.
func TestConformanceCompacted(t *testing.T) {
	admin := adminURL(t)
	storetest.RunCompacted(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), freshDatabase(t, admin))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// Instances starting at the same time on a new database all come up:
// one applies the migrations, the others wait for it and find them done.
func TestOpenConcurrently(t *testing.T) {
	dbURL := freshDatabase(t, adminURL(t))
	const instances = 4
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, instances)
	errs := make([]error, instances)
	for i := range instances {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dbURL) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
		if _, err := stores[i].CreateDevice(t.Context(), "d"+string(rune('0'+i)), time.Now()); err != nil {
			t.Errorf("store %d: CreateDevice: %v", i, err)
		}
	}
}

// Opening a migrated database again changes nothing and keeps the data.
func TestOpenTwice(t *testing.T) {
	ctx := t.Context()
	dbURL := freshDatabase(t, adminURL(t))
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	now := time.Now()
	res, err := s.InsertReadings(ctx, []thermowatt.Reading{{DeviceID: "d1", RecordedAt: now}}, now)
	if err != nil || res.Accepted != 1 {
		t.Fatalf("InsertReadings = %+v, %v", res, err)
	}
	s.Close()

	s, err = postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	defer s.Close()
	if d, err := s.GetDevice(ctx, "d1"); err != nil || d.ReadingCount != 1 {
		t.Fatalf("after reopening: GetDevice = %+v, %v; want d1 with 1 reading", d, err)
	}
}

// A database that cannot be reached is "unavailable", which the API turns
// into 503 + Retry-After. Needs no database.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on localhost: nothing listens, the connection is refused.
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/thermowatt?sslmode=disable&connect_timeout=5")
	if !errors.Is(err, thermowatt.ErrUnavailable) {
		t.Fatalf("Open(unreachable) error = %v, want one wrapping thermowatt.ErrUnavailable", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://user:s3cret@host:notaport/db")
	if err == nil || errors.Is(err, thermowatt.ErrUnavailable) {
		t.Fatalf("Open(bad URL) error = %v, want a plain error", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q reveals the password", err)
	}
}

// adminURL returns TEST_DATABASE_URL, the URL of a database on a server
// where the tests may create databases, or skips the test without one.
func adminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is required in CI")
		}
		t.Skip("PostgreSQL tests skipped: set TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	return u
}

// openFresh opens a store on a database of its own, closed when t ends,
// and returns its URL for tests that also look at it with SQL (connect).
func openFresh(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	dbURL := freshDatabase(t, adminURL(t))
	s, err := postgres.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dbURL
}

// connect opens a connection to the database at url, for a test that
// looks at it with SQL, closed when t ends.
func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// freshDatabase creates an empty database for the test, drops it when the
// test ends, and returns its URL. A database per test lets tests run in
// parallel and again without cleaning up after one another.
func freshDatabase(t testing.TB, admin string) string {
	t.Helper()
	ctx := t.Context()
	b := make([]byte, 6)
	rand.Read(b)
	name := "thermowatt_test_" + hex.EncodeToString(b)

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})

	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			t.Fatalf("TEST_DATABASE_URL: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return admin + " dbname=" + name // key=value form; the last dbname wins
}

func BenchmarkStore(b *testing.B) {
	admin := adminURL(b)
	storetest.Bench(b, func(tb testing.TB) store.Store {
		s, err := postgres.Open(tb.Context(), freshDatabase(tb, admin))
		if err != nil {
			tb.Fatalf("Open: %v", err)
		}
		return s
	})
}

// When the server drops the connections (an administrator ends the
// sessions, a failover) while the database stays up, calls go on working:
// the store notices, drops its dead idle connections and runs the call
// again on a new one, instead of failing one call per dead connection.
func TestDroppedConnectionsAreReplaced(t *testing.T) {
	ctx := t.Context()
	admin := adminURL(t)
	dbURL := freshDatabase(t, admin)
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	conn := connect(t, admin)
	u, _ := url.Parse(dbURL)
	name := strings.TrimPrefix(u.Path, "/")

	now := time.Now()
	for i := range 5 {
		// Use several connections at once so the pool holds several idle.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _, _ = s.QueryReadings(ctx, store.Query{Limit: 1}) })
		}
		wg.Wait()
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
			t.Fatalf("terminate: %v", err)
		}
		var err error
		switch i % 3 {
		case 0:
			_, err = s.InsertReadings(ctx, []thermowatt.Reading{{DeviceID: "d1", RecordedAt: now.Add(time.Duration(i) * time.Second)}}, now)
		case 1:
			_, err = s.QueryReadings(ctx, store.Query{Limit: 10})
		case 2:
			err = s.Ping(ctx)
		}
		if err != nil {
			t.Fatalf("call %d after the server ended the sessions: %v", i, err)
		}
	}
}

// The conformance suite on a Citus cluster (make test-citus): the schema
// is migrated and then distributed as docs/scaling.md tells a user to.
func TestCitusConformance(t *testing.T) {
	if !testdb.CitusAvailable() {
		t.Skip("Citus suite skipped: set CITUS_URL to a coordinator's database (make test-citus)")
	}
	storetest.Run(t, func(t *testing.T) store.Store { return testdb.OpenCitus(t) })
}

// The store benchmarks on a Citus cluster, to compare with BenchmarkStore
// on plain PostgreSQL (docs/scaling.md).
func BenchmarkCitusStore(b *testing.B) {
	if !testdb.CitusAvailable() {
		b.Skip("set CITUS_URL")
	}
	storetest.Bench(b, func(tb testing.TB) store.Store { return testdb.OpenCitus(tb) })
}
