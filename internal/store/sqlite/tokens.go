package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	sqlite3 "modernc.org/sqlite/lib"
)

const tokenColumns = `id, hash, scope, coalesce(device_id, ''), created_at, revoked_at`

const tokenByID = `SELECT ` + tokenColumns + ` FROM tokens WHERE id = ? AND revoked_at IS NULL`

// CreateToken stores a token. A device token's device must be registered
// (thermowatt.ErrNotFound otherwise); an id already in use is thermowatt.ErrExists.
func (s *Store) CreateToken(ctx context.Context, t thermowatt.Token) error {
	hash := t.Hash
	if hash == nil {
		hash = []byte{} // NOT NULL; nil would be stored as NULL
	}
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO tokens (id, hash, scope, device_id, created_at, revoked_at)
		VALUES (?, ?, ?, nullif(?, ''), ?, ?)`,
		t.ID, hash, t.Scope, t.DeviceID, micros(t.CreatedAt), microsPtr(t.RevokedAt))
	switch {
	case err == nil:
		return nil
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("token %q: %w", t.ID, thermowatt.ErrExists)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return fmt.Errorf("token %q: device %q: %w", t.ID, t.DeviceID, thermowatt.ErrNotFound)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_CHECK):
		return fmt.Errorf("sqlite: create token %q: scope %q with device %q: a device token needs a device, other scopes none: %w",
			t.ID, t.Scope, t.DeviceID, err)
	}
	return fmt.Errorf("sqlite: create token %q: %w", t.ID, mapError(ctx, err))
}

// TokenByID returns a token that has not been revoked; thermowatt.ErrNotFound otherwise.
//
// It runs for every authenticated request, so its statement is compiled
// once (readStmts) rather than per call, and it runs under a context the
// driver does not watch: for a cancellable one the driver starts a
// goroutine per statement, which cost more than this primary-key lookup,
// too short to be worth interrupting. A context already done still fails.
func (s *Store) TokenByID(ctx context.Context, id string) (thermowatt.Token, error) {
	if err := ctx.Err(); err != nil {
		return thermowatt.Token{}, fmt.Errorf("sqlite: token %q: %w", id, mapError(ctx, err))
	}
	st, err := s.readStmts.get(ctx, tokenByID)
	if err != nil {
		return thermowatt.Token{}, fmt.Errorf("sqlite: token %q: %w", id, mapError(ctx, err))
	}
	t, err := scanToken(st.QueryRowContext(context.WithoutCancel(ctx), id))
	if errors.Is(err, sql.ErrNoRows) {
		return thermowatt.Token{}, fmt.Errorf("token %q: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return thermowatt.Token{}, fmt.Errorf("sqlite: token %q: %w", id, mapError(ctx, err))
	}
	return t, nil
}

// ListTokens returns every token, revoked ones included, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]thermowatt.Token, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var ts []thermowatt.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tokens: %w", mapError(ctx, err))
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", mapError(ctx, err))
	}
	return ts, nil
}

// RevokeToken marks a token revoked; thermowatt.ErrNotFound when unknown or
// already revoked.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	res, err := s.write.ExecContext(ctx,
		`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(now), id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke token %q: %w", id, mapError(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: revoke token %q: %w", id, mapError(ctx, err))
	}
	if n == 0 {
		return fmt.Errorf("token %q: %w", id, thermowatt.ErrNotFound)
	}
	s.revoked.Call(id)
	return nil
}

// CountTokens counts tokens of a scope that have not been revoked.
func (s *Store) CountTokens(ctx context.Context, scope thermowatt.Scope) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx,
		`SELECT count(*) FROM tokens WHERE scope = ? AND revoked_at IS NULL`, scope).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count tokens: %w", mapError(ctx, err))
	}
	return n, nil
}

func scanToken(row scanner) (thermowatt.Token, error) {
	var (
		t       thermowatt.Token
		created int64
		revoked *int64
	)
	if err := row.Scan(&t.ID, &t.Hash, &t.Scope, &t.DeviceID, &created, &revoked); err != nil {
		return t, err
	}
	t.CreatedAt = fromMicros(created)
	t.RevokedAt = fromMicrosPtr(revoked)
	return t, nil
}
