package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/store"
)

// CountDeviceCAs counts devices by the CAs they report; see
// store.Firmware. A "ca" that is not an object, or a fingerprint that is
// not a string, counts as "" (->> would turn a number into its text).
func (s *Store) CountDeviceCAs(ctx context.Context) ([]store.CACount, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT CASE WHEN jsonb_typeof(health->'ca'->'active') = 'string' THEN health->'ca'->>'active' ELSE '' END,
			CASE WHEN jsonb_typeof(health->'ca'->'waiting') = 'string' THEN health->'ca'->>'waiting' ELSE '' END,
			count(*)
		FROM devices GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count device CAs: %w", mapError(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.CACount, error) {
		var c store.CACount
		err := row.Scan(&c.Active, &c.Waiting, &c.Devices)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: count device CAs: %w", mapError(ctx, err))
	}
	return out, nil
}
