package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/store"
)

// dashboardTokenFile remembers, in DATA_DIR, the id of the reader token
// `serve --dashboard-link` issued last, so that the next start revokes it:
// restarting `make run` all day leaves one live dashboard token, not many.
const dashboardTokenFile = "dashboard-token-id"

// dashboardTokenPath is the file for this configuration's database: one
// per PostgreSQL database (by host, port, database and role; never the
// password), so that serving another database from the same folder does
// not forget the first one's token, which would then never be revoked.
func dashboardTokenPath(cfg config.Config) string {
	if cfg.DatabaseURL == "" {
		return filepath.Join(cfg.DataDir, dashboardTokenFile)
	}
	key := cfg.DatabaseURL
	if u, err := url.Parse(cfg.DatabaseURL); err == nil && u.Host != "" {
		key = u.Host + u.Path
		if u.User != nil {
			key = u.User.Username() + "@" + key
		}
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(cfg.DataDir, dashboardTokenFile+"-"+hex.EncodeToString(sum[:6]))
}

// printDashboardLink issues a reader token and prints a dashboard URL that
// carries it in the fragment (#token=...), which the browser never sends to
// the server: the page stores it and removes it from the address bar.
func printDashboardLink(ctx context.Context, e env, cfg config.Config, st store.Store, port int) error {
	idFile := dashboardTokenPath(cfg)
	if old, err := os.ReadFile(idFile); err == nil {
		id := strings.TrimSpace(string(old))
		if err := st.RevokeToken(ctx, id, time.Now()); err != nil && !errors.Is(err, thermowatt.ErrNotFound) {
			return fmt.Errorf("revoking the previous dashboard token %s: %w", id, err)
		}
	}
	secret, t, err := auth.New(thermowatt.ScopeReader, "", time.Now())
	if err != nil {
		return err
	}
	if err := st.CreateToken(ctx, t); err != nil {
		return fmt.Errorf("storing the dashboard token: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("remembering the dashboard token: %w", err)
	}
	if err := os.WriteFile(idFile, []byte(t.ID+"\n"), 0o600); err != nil {
		return fmt.Errorf("remembering the dashboard token: %w", err)
	}
	base := cfg.PublicURL
	if cfg.Port == 0 { // an ephemeral port: the configured URL cannot know it
		base = fmt.Sprintf("http://localhost:%d", port)
	}
	fmt.Fprintf(e.stdout, "Dashboard: %s/#token=%s\n", base, secret)
	return nil
}
