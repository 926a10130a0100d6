package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// serve on a PostgreSQL URL whose database does not exist creates it
// (the README's quick start on a fresh server); a role that may not gets
// the command that does.
func TestServeCreatesAMissingPostgresDatabase(t *testing.T) {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL is not set")
	}
	ctx := context.Background()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("tw_createdb_%d", time.Now().UnixNano())
	u.Path = "/" + name
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	t.Cleanup(func() { admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })

	served, _, stop := startServe(t, map[string]string{"DATABASE_URL": u.String(), "ADMIN_TOKEN": cliAdmin})
	if served == "" {
		t.Fatal("serve did not start")
	}
	stop()
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 1 {
		t.Fatalf("database %s after serve: %d %v", name, n, err)
	}

	// A role without CREATEDB is told what to run.
	role := name + "_r"
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(ctx, "DROP ROLE IF EXISTS "+role) })
	u.User = url.User(role)
	u.Path = "/" + name + "_other"
	err = ensureDatabase(ctx, u.String())
	if err == nil || !strings.Contains(err.Error(), "createdb") || !strings.Contains(err.Error(), name+"_other") {
		t.Fatalf("without CREATEDB: %v, want the createdb command", err)
	}
}
