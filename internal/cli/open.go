package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

// openStore opens PostgreSQL when DATABASE_URL is set, the embedded SQLite
// database otherwise, and applies pending migrations.
func openStore(ctx context.Context, cfg config.Config) (store.Store, string, error) {
	if cfg.DatabaseURL != "" {
		s, err := postgres.Open(ctx, withPoolDefaults(cfg.DatabaseURL, cfg.Limits.MaxDBConcurrency))
		if err != nil {
			if strings.Contains(err.Error(), "SQLSTATE 3D000") { // the database does not exist
				return nil, "", fmt.Errorf("opening PostgreSQL from DATABASE_URL: %w; `thermowatt serve` creates it at its first start (or createdb does)", err)
			}
			return nil, "", fmt.Errorf("opening PostgreSQL from DATABASE_URL: %w", err)
		}
		return s, "postgres", nil
	}
	s, err := sqlite.Open(ctx, cfg.SQLitePath())
	if err != nil {
		return nil, "", fmt.Errorf("opening SQLite at %s: %w", cfg.SQLitePath(), err)
	}
	return s, "sqlite " + cfg.SQLitePath(), nil
}
