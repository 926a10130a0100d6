package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// CreateRelease stores a release and its files; see store.Firmware.
func (s *Store) CreateRelease(ctx context.Context, r thermowatt.Release) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO firmware_releases (version, created_at, signature) VALUES ($1, $2, nullif($3, ''))`,
			r.Version, store.UTC(r.CreatedAt), r.Signature); err != nil {
			return err
		}
		for _, f := range r.Files {
			content := f.Content
			if content == nil {
				content = []byte{} // NOT NULL; pgx would send nil as NULL
			}
			if _, err := tx.Exec(ctx, `INSERT INTO firmware_files (version, path, size, sha256, content) VALUES ($1, $2, $3, $4, $5)`,
				r.Version, f.Path, f.Size, f.SHA256, content); err != nil {
				return err
			}
		}
		return nil
	})
	if name, ok := violatedUnique(err); ok && releaseKey.MatchString(name) {
		return fmt.Errorf("firmware %q: %w", r.Version, thermowatt.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create release %q: %w", r.Version, mapError(ctx, err))
	}
	return nil
}

// releaseKey is the releases' primary key, with a shard id on Citus.
var releaseKey = regexp.MustCompile(`^firmware_releases_pkey(_[0-9]+)?$`)

// ListReleases returns every release newest first; see store.Firmware.
func (s *Store) ListReleases(ctx context.Context) ([]thermowatt.Release, error) {
	rs, err := s.releases(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("postgres: list releases: %w", mapError(ctx, err))
	}
	return rs, nil
}

// GetRelease returns one release; see store.Firmware.
func (s *Store) GetRelease(ctx context.Context, version string) (thermowatt.Release, error) {
	rs, err := s.releases(ctx, version)
	if err != nil {
		return thermowatt.Release{}, fmt.Errorf("postgres: release %q: %w", version, mapError(ctx, err))
	}
	if len(rs) == 0 {
		return thermowatt.Release{}, fmt.Errorf("firmware %q: %w", version, thermowatt.ErrNotFound)
	}
	return rs[0], nil
}

// releases reads the releases (all, or the one of version) with their
// files in one query, newest first.
func (s *Store) releases(ctx context.Context, version string) ([]thermowatt.Release, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.version, r.created_at, coalesce(r.signature, ''), f.path, f.size, f.sha256
		FROM firmware_releases r LEFT JOIN firmware_files f ON f.version = r.version
		WHERE $1 = '' OR r.version = $1
		ORDER BY r.created_at DESC, r.version DESC, f.path`, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []thermowatt.Release
	for rows.Next() {
		var r thermowatt.Release
		var path, sum *string
		var size *int64
		if err := rows.Scan(&r.Version, &r.CreatedAt, &r.Signature, &path, &size, &sum); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Version != r.Version {
			r.CreatedAt = r.CreatedAt.UTC()
			r.Files = []thermowatt.FirmwareFile{}
			out = append(out, r)
		}
		if path != nil {
			last := &out[len(out)-1]
			last.Files = append(last.Files, thermowatt.FirmwareFile{Path: *path, Size: *size, SHA256: *sum})
		}
	}
	return out, rows.Err()
}

// FirmwareFile returns one file with its contents; see store.Firmware.
func (s *Store) FirmwareFile(ctx context.Context, version, path string) (thermowatt.FirmwareFile, error) {
	f := thermowatt.FirmwareFile{Path: path}
	err := s.pool.QueryRow(ctx, `SELECT size, sha256, content FROM firmware_files WHERE version = $1 AND path = $2`,
		version, path).Scan(&f.Size, &f.SHA256, &f.Content)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, fmt.Errorf("firmware %q file %q: %w", version, path, thermowatt.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("postgres: firmware %q file %q: %w", version, path, mapError(ctx, err))
	}
	return f, nil
}

// CountRunningFirmware counts devices by reported firmware and update
// state; see store.Firmware.
func (s *Store) CountRunningFirmware(ctx context.Context) ([]store.FirmwareCount, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT coalesce(health->>'firmware', ''), coalesce(health->'update'->>'state', ''), count(*)
		FROM devices GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count firmware: %w", mapError(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.FirmwareCount, error) {
		var c store.FirmwareCount
		err := row.Scan(&c.Version, &c.UpdateState, &c.Devices)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: count firmware: %w", mapError(ctx, err))
	}
	return out, nil
}
