package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/config"
)

// Every admin command talks to the server over HTTP(S) with an admin
// token, so that an operator needs the service's URL and nothing else: on
// Render's free plan there is no shell, and the database takes no outside
// connections. The server applies a change at once on every instance
// (devices' answers included). Only what works where no server exists
// yet opens the database itself: serve, the first admin token
// (`token add` without a URL) and the cron jobs (`alerts check`,
// `retention run` without a URL).

// serverFlag adds --url to a subcommand's flags.
func serverFlag(fs *flag.FlagSet) *string {
	return fs.String("url", "", "the server's base URL, e.g. https://thermowatt.onrender.com (default: THERMOWATT_URL)")
}

// serverURL is --url, or THERMOWATT_URL; empty when neither is set.
func serverURL(e env, flagURL string) string {
	if flagURL != "" {
		return flagURL
	}
	return e.getenv("THERMOWATT_URL")
}

// adminClient is the client of the server at --url or THERMOWATT_URL,
// with the admin token in THERMOWATT_TOKEN (never on the command line,
// where other users and the shell's history would see it).
func adminClient(e env, what, flagURL string) (*apiclient.Admin, error) {
	u := serverURL(e, flagURL)
	if u == "" {
		return nil, usagef("%s asks the server: set THERMOWATT_URL to its address (e.g. http://localhost:8080, or the Render service's URL) or give --url, and THERMOWATT_TOKEN to an admin token", what)
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, usagef("the server URL %q must start with https:// (or http:// on a LAN)", u)
	}
	tok := strings.TrimSpace(e.getenv("THERMOWATT_TOKEN"))
	if tok == "" {
		return nil, usagef("%s needs an admin token in THERMOWATT_TOKEN (the one serve printed at its first start, ADMIN_TOKEN, or `thermowatt token add --scope admin` run where the database is)", what)
	}
	return &apiclient.Admin{BaseURL: strings.TrimRight(u, "/"), Token: tok}, nil
}

// flagsOnlyClient parses a subcommand that takes flags but no arguments,
// --url among them, and returns the client of the server it asks.
func flagsOnlyClient(e env, fs *flag.FlagSet, args []string, what string) (*apiclient.Admin, error) {
	url := serverFlag(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return nil, err
	}
	return adminClient(e, what, *url)
}

// withServerOrStore runs remote when a server URL is given, and local on
// the database otherwise: for the commands that also run where no server
// exists (the first admin token, the cron jobs).
func withServerOrStore(ctx context.Context, e env, what, flagURL string, remote func(*apiclient.Admin) error, local func() error) error {
	if serverURL(e, flagURL) == "" {
		return local()
	}
	c, err := adminClient(e, what, flagURL)
	if err != nil {
		return err
	}
	return remote(c)
}

// requireDatabase refuses to create an empty SQLite database by accident:
// a command run from another folder would otherwise make ./data/thermowatt.db
// there, and its token would work nowhere.
func requireDatabase(e env) error {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		return nil
	}
	if _, err := os.Stat(cfg.SQLitePath()); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no database at %s: run this where serve runs (its DATA_DIR or DATABASE_URL), or ask the server with THERMOWATT_URL and THERMOWATT_TOKEN", cfg.SQLitePath())
	}
	return nil
}
