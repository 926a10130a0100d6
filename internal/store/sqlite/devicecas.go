package sqlite

import (
	"context"
	"fmt"

	"github.com/thermowatt/thermowatt/internal/store"
)

// CountDeviceCAs counts devices by the CAs they report; see
// store.Firmware. As in PostgreSQL, a fingerprint that is not a string
// (json_type 'text') counts as "".
func (s *Store) CountDeviceCAs(ctx context.Context) ([]store.CACount, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT CASE WHEN json_type(health, '$.ca.active') = 'text' THEN json_extract(health, '$.ca.active') ELSE '' END,
			CASE WHEN json_type(health, '$.ca.waiting') = 'text' THEN json_extract(health, '$.ca.waiting') ELSE '' END,
			count(*)
		FROM devices GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count device CAs: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var out []store.CACount
	for rows.Next() {
		var c store.CACount
		if err := rows.Scan(&c.Active, &c.Waiting, &c.Devices); err != nil {
			return nil, fmt.Errorf("sqlite: count device CAs: %w", mapError(ctx, err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count device CAs: %w", mapError(ctx, err))
	}
	return out, nil
}
