package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ensureDatabase creates the database a postgres:// DATABASE_URL names
// when the server says it does not exist (SQLSTATE 3D000), by connecting
// to the server's "postgres" database as the same role: the README's
// quick start then works on a fresh PostgreSQL. When the role may not
// create databases, the error says which command does. Any other failure
// is left to postgres.Open, which reports it.
func ensureDatabase(ctx context.Context, databaseURL string) error {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		return nil
	}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err == nil {
		return conn.Close(ctx)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3D000" {
		return nil
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err = pgx.Connect(ctx, admin.String())
	if err != nil {
		return missingDatabase(u, name, "cannot reach the postgres database to create it")
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if errors.As(err, &pe) && pe.Code == "42P04" { // another instance made it first
		return nil
	}
	if err != nil {
		return missingDatabase(u, name, "this role may not create it")
	}
	return nil
}

func missingDatabase(u *url.URL, name, why string) error {
	cmd := "createdb"
	if h := u.Hostname(); h != "" {
		cmd += " -h " + h
	}
	if p := u.Port(); p != "" {
		cmd += " -p " + p
	}
	if u.User != nil && u.User.Username() != "" {
		cmd += " -U " + u.User.Username()
	}
	return fmt.Errorf("DATABASE_URL names the database %q, which does not exist, and %s: create it with `%s %s` (or CREATE DATABASE as a role that may), then start again", name, why, cmd, name)
}
