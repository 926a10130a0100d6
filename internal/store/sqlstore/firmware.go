package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// CreateRelease stores a release and its files; see store.Firmware.
func (s *Store) CreateRelease(ctx context.Context, r thermowatt.Release) error {
	err := s.InTx(ctx, func(tx DB) error {
		if _, err := tx.Exec(ctx, `INSERT INTO firmware_releases (version, created_at, signature) VALUES ($1, $2, nullif($3, ''))`,
			r.Version, store.UTC(r.CreatedAt), r.Signature); err != nil {
			if s.Violation(err) == UniqueViolation {
				return fmt.Errorf("firmware %q: %w", r.Version, thermowatt.ErrExists)
			}
			return err
		}
		stmts := make([]Stmt, len(r.Files))
		for i, f := range r.Files {
			content := f.Content
			if content == nil {
				content = []byte{} // NOT NULL; nil would be sent as NULL
			}
			stmts[i] = Stmt{`INSERT INTO firmware_files (version, path, size, sha256, content) VALUES ($1, $2, $3, $4, $5)`,
				[]any{r.Version, f.Path, f.Size, f.SHA256, content}}
		}
		return tx.ExecAll(ctx, stmts)
	})
	if errors.Is(err, thermowatt.ErrExists) {
		return err
	}
	if err != nil {
		return s.fail(ctx, err, "create release %q", r.Version)
	}
	return nil
}

// ListReleases returns every release newest first; see store.Firmware.
func (s *Store) ListReleases(ctx context.Context) ([]thermowatt.Release, error) {
	rs, err := s.releases(ctx, "")
	if err != nil {
		return nil, s.fail(ctx, err, "list releases")
	}
	return rs, nil
}

// GetRelease returns one release; see store.Firmware.
func (s *Store) GetRelease(ctx context.Context, version string) (thermowatt.Release, error) {
	rs, err := s.releases(ctx, version)
	if err != nil {
		return thermowatt.Release{}, s.fail(ctx, err, "release %q", version)
	}
	if len(rs) == 0 {
		return thermowatt.Release{}, fmt.Errorf("firmware %q: %w", version, thermowatt.ErrNotFound)
	}
	return rs[0], nil
}

// releases reads the releases (all, or the one of version) with their
// files in one query, newest first.
func (s *Store) releases(ctx context.Context, version string) ([]thermowatt.Release, error) {
	rows, err := s.Read.Query(ctx, `
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
	err := s.Read.QueryRow(ctx, `SELECT size, sha256, content FROM firmware_files WHERE version = $1 AND path = $2`,
		version, path).Scan(&f.Size, &f.SHA256, &f.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("firmware %q file %q: %w", version, path, thermowatt.ErrNotFound)
	}
	if err != nil {
		return f, s.fail(ctx, err, "firmware %q file %q", version, path)
	}
	if f.Content == nil {
		f.Content = []byte{}
	}
	return f, nil
}

// CountRunningFirmware counts devices by reported firmware and update
// state; see store.Firmware.
func (s *Store) CountRunningFirmware(ctx context.Context) ([]store.FirmwareCount, error) {
	rows, err := s.Read.Query(ctx, `
		SELECT coalesce(`+s.JSONText("health", "firmware")+`, ''), coalesce(`+s.JSONText("health", "update", "state")+`, ''), count(*)
		FROM device_state GROUP BY 1, 2 ORDER BY 1, 2`)
	out, err := collect(rows, err, func(row Row) (c store.FirmwareCount, err error) {
		err = row.Scan(&c.Version, &c.UpdateState, &c.Devices)
		return c, err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "count firmware")
	}
	return out, nil
}
