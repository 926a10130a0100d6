// Package testdb gives tests real databases: a fresh PostgreSQL database
// per test (from TEST_DATABASE_URL) and a fresh SQLite file, so suites can
// run the same cases against both backends.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

// Backend is one kind of store a suite runs against.
type Backend struct {
	Name string
	Open func(t testing.TB) store.Store
}

// Backends returns SQLite, PostgreSQL when TEST_DATABASE_URL is set, and
// Citus when CITUS_URL is set. In CI (CI set) a missing TEST_DATABASE_URL
// fails the test rather than silently testing one backend.
func Backends(t testing.TB) []Backend {
	bs := []Backend{{Name: "sqlite", Open: OpenSQLite}}
	if PostgresAvailable(t) {
		bs = append(bs, Backend{Name: "postgres", Open: OpenPostgres})
	}
	if CitusAvailable() {
		bs = append(bs, Backend{Name: "citus", Open: OpenCitus})
	}
	return bs
}

// PostgresAvailable reports whether PostgreSQL tests can run, failing the
// test in CI when they cannot and logging one clear line otherwise.
func PostgresAvailable(t testing.TB) bool {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return true
	}
	if os.Getenv("CI") != "" {
		t.Fatal("TEST_DATABASE_URL is not set, and CI requires the PostgreSQL suite to run (.ci/run sets it)")
	}
	t.Log("PostgreSQL suite skipped: TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
	return false
}

// OpenSQLite opens a store on a new SQLite file, closed at cleanup.
func OpenSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "thermowatt.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenPostgres opens a store on a new, empty PostgreSQL database.
func OpenPostgres(t testing.TB) store.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), NewPostgresDatabase(t))
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewPostgresDatabase creates an empty database on the server named by
// TEST_DATABASE_URL, drops it at cleanup, and returns its URL.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Fatal("TEST_DATABASE_URL is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tw_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
