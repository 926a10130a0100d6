package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// CitusAvailable reports whether CITUS_URL names a Citus coordinator to
// test against (make test-citus). Unlike TEST_DATABASE_URL it is never
// required, CI included: a Citus cluster is not part of the CI machine.
func CitusAvailable() bool { return os.Getenv("CITUS_URL") != "" }

// citusShards is the shard count of the tests' distributed tables: enough
// for every worker to hold several, few enough that the many schemas the
// suites create in parallel stay cheap.
const citusShards = 4

// OpenCitus opens a store on a new Citus schema (NewCitusDatabase).
func OpenCitus(t testing.TB) store.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), NewCitusDatabase(t))
	if err != nil {
		t.Fatalf("open citus: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewCitusDatabase returns the URL of a new schema on the Citus
// coordinator named by CITUS_URL, migrated and then distributed
// (postgres.DistributeCitus) as a user's database would be.
func NewCitusDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dbURL := NewCitusSchema(t)
	s, err := postgres.Open(ctx, dbURL) // migrates
	if err != nil {
		t.Fatalf("migrate citus schema: %v", err)
	}
	s.Close()
	// Tests distributing their schemas at once lock Citus's metadata in
	// different orders, and one may be chosen as a deadlock victim: as
	// DistributeCitus skips what is already distributed, it tries again.
	for attempt := 1; ; attempt++ {
		err := postgres.DistributeCitus(ctx, dbURL, citusShards)
		if err == nil {
			return dbURL
		}
		if attempt == 5 || !strings.Contains(err.Error(), "SQLSTATE 40P01") {
			t.Fatalf("distribute: %v", err)
		}
	}
}

// NewCitusSchema creates an empty schema on the coordinator of CITUS_URL,
// drops it (with its shards on the workers) at cleanup, and returns a URL
// whose connections use it. A schema, not a database, per test: Citus
// keeps its cluster's node list and extension per database, so a new
// database would have to be set up as a cluster of its own.
func NewCitusSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv("CITUS_URL")
	if base == "" {
		t.Fatal("CITUS_URL is not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("CITUS_URL must be a postgres:// URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to CITUS_URL: %v", err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tw_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema on CITUS_URL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		// Schemas dropped at once by parallel tests lock Citus's metadata
		// in different orders, and one of them may be chosen as a deadlock
		// victim: that one tries again.
		for attempt := 1; ; attempt++ {
			_, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
			var pgErr *pgconn.PgError
			if err == nil || attempt == 5 || !errors.As(err, &pgErr) || pgErr.Code != "40P01" {
				if err != nil {
					t.Errorf("drop schema %s: %v", name, err)
				}
				return
			}
		}
	})
	q := u.Query()
	q.Set("search_path", name) // pgx sends unknown parameters as run-time settings
	u.RawQuery = q.Encode()
	return fmt.Sprint(u)
}
