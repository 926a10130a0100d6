package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// CreateRelease stores a release and its files; see store.Firmware.
func (s *Store) CreateRelease(ctx context.Context, r thermowatt.Release) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO firmware_releases (version, created_at, signature) VALUES (?, ?, nullif(?, ''))`,
			r.Version, micros(r.CreatedAt), r.Signature); err != nil {
			if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
				return fmt.Errorf("firmware %q: %w", r.Version, thermowatt.ErrExists)
			}
			return err
		}
		for _, f := range r.Files {
			content := f.Content
			if content == nil {
				content = []byte{} // NOT NULL
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO firmware_files (version, path, size, sha256, content) VALUES (?, ?, ?, ?, ?)`,
				r.Version, f.Path, f.Size, f.SHA256, content); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, thermowatt.ErrExists) {
		return err
	}
	if err != nil {
		return fmt.Errorf("sqlite: create release %q: %w", r.Version, mapError(ctx, err))
	}
	return nil
}

// ListReleases returns every release newest first; see store.Firmware.
func (s *Store) ListReleases(ctx context.Context) ([]thermowatt.Release, error) {
	rs, err := s.releases(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list releases: %w", mapError(ctx, err))
	}
	return rs, nil
}

// GetRelease returns one release; see store.Firmware.
func (s *Store) GetRelease(ctx context.Context, version string) (thermowatt.Release, error) {
	rs, err := s.releases(ctx, version)
	if err != nil {
		return thermowatt.Release{}, fmt.Errorf("sqlite: release %q: %w", version, mapError(ctx, err))
	}
	if len(rs) == 0 {
		return thermowatt.Release{}, fmt.Errorf("firmware %q: %w", version, thermowatt.ErrNotFound)
	}
	return rs[0], nil
}

// releases reads the releases (all, or the one of version) with their
// files in one query, newest first.
func (s *Store) releases(ctx context.Context, version string) ([]thermowatt.Release, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT r.version, r.created_at, coalesce(r.signature, ''), f.path, f.size, f.sha256
		FROM firmware_releases r LEFT JOIN firmware_files f ON f.version = r.version
		WHERE ?1 = '' OR r.version = ?1
		ORDER BY r.created_at DESC, r.version DESC, f.path`, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []thermowatt.Release
	for rows.Next() {
		var r thermowatt.Release
		var created int64
		var path, sum *string
		var size *int64
		if err := rows.Scan(&r.Version, &created, &r.Signature, &path, &size, &sum); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Version != r.Version {
			r.CreatedAt = fromMicros(created)
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
	err := s.read.QueryRowContext(ctx, `SELECT size, sha256, content FROM firmware_files WHERE version = ? AND path = ?`,
		version, path).Scan(&f.Size, &f.SHA256, &f.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("firmware %q file %q: %w", version, path, thermowatt.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("sqlite: firmware %q file %q: %w", version, path, mapError(ctx, err))
	}
	if f.Content == nil {
		f.Content = []byte{}
	}
	return f, nil
}

// CountRunningFirmware counts devices by reported firmware and update
// state; see store.Firmware.
func (s *Store) CountRunningFirmware(ctx context.Context) ([]store.FirmwareCount, error) {
	// json_extract of a non-string (a number) gives a number, kept as
	// its text so that both backends name the version alike.
	rows, err := s.read.QueryContext(ctx, `
		SELECT coalesce(CAST(json_extract(health, '$.firmware') AS TEXT), ''),
			coalesce(CAST(json_extract(health, '$.update.state') AS TEXT), ''), count(*)
		FROM devices GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count firmware: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var out []store.FirmwareCount
	for rows.Next() {
		var c store.FirmwareCount
		if err := rows.Scan(&c.Version, &c.UpdateState, &c.Devices); err != nil {
			return nil, fmt.Errorf("sqlite: count firmware: %w", mapError(ctx, err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count firmware: %w", mapError(ctx, err))
	}
	return out, nil
}
