package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store/sqlstore"
)

// tokenByID is the hot path's query: see TokenByID. The other token
// queries are sqlstore's (tokens.go there).
const tokenByID = `SELECT ` + sqlstore.TokenColumns + ` FROM tokens WHERE id = $1 AND revoked_at IS NULL`

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
	t, err := sqlstore.ScanToken(decodingRow{st.QueryRowContext(context.WithoutCancel(ctx), id)})
	if errors.Is(err, sql.ErrNoRows) {
		return thermowatt.Token{}, fmt.Errorf("token %q: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return thermowatt.Token{}, fmt.Errorf("sqlite: token %q: %w", id, mapError(ctx, err))
	}
	return t, nil
}
