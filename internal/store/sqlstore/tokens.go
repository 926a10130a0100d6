package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// TokenColumns are the columns of tokens that ScanToken reads. Looking a
// token up by id is every request's first query, and each backend does
// it its own way (TokenByID): PostgreSQL answers concurrent lookups with
// one query, SQLite keeps the statement compiled.
const TokenColumns = `id, hash, scope, coalesce(device_id, ''), created_at, revoked_at`

// ScanToken reads a row of TokenColumns.
func ScanToken(row Row) (thermowatt.Token, error) {
	var t thermowatt.Token
	err := row.Scan(&t.ID, &t.Hash, &t.Scope, &t.DeviceID, &t.CreatedAt, &t.RevokedAt)
	return t, err
}

// CreateToken stores a token. A device token's device must be registered
// (thermowatt.ErrNotFound otherwise); an id already in use is thermowatt.ErrExists.
func (s *Store) CreateToken(ctx context.Context, t thermowatt.Token) error {
	hash := t.Hash
	if hash == nil {
		hash = []byte{} // NOT NULL; nil would be sent as NULL
	}
	var revoked *time.Time
	if t.RevokedAt != nil {
		r := store.UTC(*t.RevokedAt)
		revoked = &r
	}
	_, err := s.Write.Exec(ctx, `
		INSERT INTO tokens (id, hash, scope, device_id, created_at, revoked_at)
		VALUES ($1, $2, $3, nullif($4, ''), $5, $6)`,
		t.ID, hash, string(t.Scope), t.DeviceID, store.UTC(t.CreatedAt), revoked)
	switch {
	case err == nil:
		return nil
	case s.Violation(err) == UniqueViolation:
		return fmt.Errorf("token %q: %w", t.ID, thermowatt.ErrExists)
	case s.Violation(err) == ForeignKeyViolation:
		return fmt.Errorf("token %q: device %q: %w", t.ID, t.DeviceID, thermowatt.ErrNotFound)
	case s.Violation(err) == CheckViolation:
		return fmt.Errorf("%s: create token %q: scope %q with device %q: a device token needs a device, other scopes none: %w",
			s.Name, t.ID, t.Scope, t.DeviceID, err)
	}
	return s.fail(ctx, err, "create token %q", t.ID)
}

// ListTokens returns every token, revoked ones included, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]thermowatt.Token, error) {
	rows, err := s.Read.Query(ctx, `SELECT `+TokenColumns+` FROM tokens ORDER BY created_at, id`)
	ts, err := collect(rows, err, ScanToken)
	if err != nil {
		return nil, s.fail(ctx, err, "list tokens")
	}
	return ts, nil
}

// RevokeToken marks a token revoked; thermowatt.ErrNotFound when unknown
// or already revoked. The dialect's AfterRevoke runs in the same
// transaction (PostgreSQL tells the other instances when it commits), and
// this instance's own listeners hear of it before RevokeToken returns.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	var n int64
	err := s.InTx(ctx, func(tx DB) (err error) {
		n, err = tx.Exec(ctx, `UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, store.UTC(now))
		if err != nil || n == 0 || s.AfterRevoke == nil {
			return err
		}
		return s.AfterRevoke(ctx, tx, id)
	})
	if err != nil {
		return s.fail(ctx, err, "revoke token %q", id)
	}
	if n == 0 {
		return fmt.Errorf("token %q: %w", id, thermowatt.ErrNotFound)
	}
	s.Revoked.Call(id)
	return nil
}

// CountTokens counts tokens of a scope that have not been revoked.
func (s *Store) CountTokens(ctx context.Context, scope thermowatt.Scope) (int, error) {
	var n int
	err := s.Read.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE scope = $1 AND revoked_at IS NULL`, string(scope)).Scan(&n)
	if err != nil {
		return 0, s.fail(ctx, err, "count tokens")
	}
	return n, nil
}
