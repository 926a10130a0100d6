package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// revokedChannel is the LISTEN/NOTIFY channel on which RevokeToken
// announces a revoked token's id to every instance, in the transaction
// that revokes it: PostgreSQL delivers it when (and only if) that commits.
const revokedChannel = "thermowatt_token_revoked"

// WatchRevocations reports every token revoked by any instance sharing
// the database: forget(id) for each, from a connection that LISTENs on
// revokedChannel. live(true) is called once it listens, live(false) as
// soon as it may miss a notification (connection lost; it reconnects,
// after which anything cached must be dropped: forget("")). A cache that
// is on only while live and drops a token on forget never admits a
// revoked token once the revoking transaction has committed and its
// notification is delivered (sub-millisecond on a healthy link); the
// revoking instance itself forgets before RevokeToken returns. It returns
// when ctx ends.
func (s *Store) WatchRevocations(ctx context.Context, forget func(tokenID string), live func(bool)) {
	s.revoked.Add(forget)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx, forget, live)
		live(false)
		forget("")
		if ctx.Err() != nil {
			return
		}
		_ = err // the cache is off until the next LISTEN succeeds; nothing else to do with it
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Store) listen(ctx context.Context, forget func(string), live func(bool)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+revokedChannel); err != nil {
		return err
	}
	// Anything cached before this point may predate a missed revocation.
	forget("")
	live(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		forget(n.Payload)
	}
}
