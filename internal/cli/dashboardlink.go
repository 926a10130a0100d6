package cli

import (
	"context"
	"errors"
	"fmt"
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

// printDashboardLink issues a reader token and prints a dashboard URL that
// carries it in the fragment (#token=...), which the browser never sends to
// the server: the page stores it and removes it from the address bar.
func printDashboardLink(ctx context.Context, e env, cfg config.Config, st store.Store, port int) error {
	idFile := filepath.Join(cfg.DataDir, dashboardTokenFile)
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
