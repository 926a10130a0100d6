package sqlite

import (
	"context"
	"fmt"
)

// DesiredVersion returns what moves with every change of desired state;
// see store.Rollouts. Settings revisions come from one counter; rollouts
// are only added, paused and resumed, so the newest id and the set of
// paused ones say which rollouts apply.
func (s *Store) DesiredVersion(ctx context.Context) (string, error) {
	var v string
	err := s.read.QueryRowContext(ctx, `
		SELECT (SELECT rev FROM settings_revision WHERE id = 1)
		    || '/' || coalesce((SELECT max(id) FROM rollouts), 0)
		    || '/' || coalesce((SELECT group_concat(id, ',') FROM (SELECT id FROM rollouts WHERE paused ORDER BY id)), '')`).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("sqlite: desired version: %w", mapError(ctx, err))
	}
	return v, nil
}
