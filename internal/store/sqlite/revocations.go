package sqlite

import (
	"context"
)

// WatchRevocations reports the tokens this process revokes (forget(id)
// right after RevokeToken's commit), but never says that every revocation
// is heard: live(false) is called at once and again when ctx ends, and it
// blocks until then. Another process may revoke in the same file (`thermowatt
// token revoke` beside a running server is the documented way to cut off a
// leaked token), and nothing tells this one, so a cache of verified tokens
// would keep admitting the token. The verifier's cache therefore stays off
// on SQLite: each request looks its token up, an in-process point read.
func (s *Store) WatchRevocations(ctx context.Context, forget func(tokenID string), live func(bool)) {
	s.Revoked.Add(forget)
	live(false)
	<-ctx.Done()
	live(false)
}
