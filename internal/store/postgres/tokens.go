package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

const tokenColumns = `id, hash, scope, coalesce(device_id, ''), created_at, revoked_at`

// CreateToken stores a token. A device token's device must be registered
// (thermowatt.ErrNotFound otherwise); an id already in use is thermowatt.ErrExists.
func (s *Store) CreateToken(ctx context.Context, t thermowatt.Token) error {
	hash := t.Hash
	if hash == nil {
		hash = []byte{} // NOT NULL; pgx would send nil as NULL
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO tokens (id, hash, scope, device_id, created_at, revoked_at)
		VALUES ($1, $2, $3, nullif($4, ''), $5, $6)`,
		t.ID, hash, t.Scope, t.DeviceID, store.UTC(t.CreatedAt), utcPtr(t.RevokedAt))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("token %q: %w", t.ID, thermowatt.ErrExists)
		case "23503": // foreign_key_violation
			return fmt.Errorf("token %q: device %q: %w", t.ID, t.DeviceID, thermowatt.ErrNotFound)
		case "23514": // check_violation
			return fmt.Errorf("postgres: create token %q: scope %q with device %q: a device token needs a device, other scopes none: %w",
				t.ID, t.Scope, t.DeviceID, err)
		}
	}
	if err != nil {
		return fmt.Errorf("postgres: create token %q: %w", t.ID, mapError(ctx, err))
	}
	return nil
}

// TokenByID returns a token that has not been revoked; thermowatt.ErrNotFound
// otherwise. Concurrent calls share one query (tokenlookup.go).
func (s *Store) TokenByID(ctx context.Context, id string) (thermowatt.Token, error) {
	return s.tokens.get(ctx, s, id)
}

// ListTokens returns every token, revoked ones included, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]thermowatt.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", mapError(ctx, err))
	}
	ts, err := pgx.CollectRows(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", mapError(ctx, err))
	}
	return ts, nil
}

// RevokeToken marks a token revoked; thermowatt.ErrNotFound when unknown or
// already revoked.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	// The notification (revocations.go) is sent by the same transaction,
	// so every instance hears of the revocation when it commits.
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH revoked AS (
			UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id
		)
		SELECT count(*) FROM revoked, LATERAL (SELECT pg_notify('`+revokedChannel+`', revoked.id)) AS notified`,
		id, store.UTC(now)).Scan(&n)
	if err != nil {
		return fmt.Errorf("postgres: revoke token %q: %w", id, mapError(ctx, err))
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
	err := s.pool.QueryRow(ctx,
		`SELECT count(*) FROM tokens WHERE scope = $1 AND revoked_at IS NULL`, scope).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count tokens: %w", mapError(ctx, err))
	}
	return n, nil
}

func scanToken(row pgx.CollectableRow) (thermowatt.Token, error) {
	var t thermowatt.Token
	if err := row.Scan(&t.ID, &t.Hash, &t.Scope, &t.DeviceID, &t.CreatedAt, &t.RevokedAt); err != nil {
		return t, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.RevokedAt = utcPtr(t.RevokedAt)
	return t, nil
}

// utcPtr returns *t normalised by store.UTC, or nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := store.UTC(*t)
	return &u
}
