package postgres

import (
	"context"

	"github.com/thermowatt/thermowatt"
)

// The token queries are sqlstore's (tokens.go there), but for the hot
// path's lookup.

// TokenByID returns a token that has not been revoked; thermowatt.ErrNotFound
// otherwise. Concurrent calls share one query (tokenlookup.go).
func (s *Store) TokenByID(ctx context.Context, id string) (thermowatt.Token, error) {
	return s.tokens.get(ctx, s, id)
}
