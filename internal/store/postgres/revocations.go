package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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
	s.Revoked.Add(forget)
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
	cfg := s.pool.Config().ConnConfig.Copy()
	// The name by which AwaitRevocation finds every instance's listener.
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
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
	pid := strconv.FormatUint(uint64(conn.PgConn().PID()), 10)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		forget(n.Payload)
		// Confirmed only once forgotten: the revoke waits for this.
		if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", ackChannel, n.Payload+" "+pid); err != nil {
			return err
		}
	}
}

// ackChannel carries each listener's confirmation that it forgot a
// revoked token: "TOKENID PID", PID that of the listener's connection.
const ackChannel = "thermowatt_token_revoked_ack"

// listenerName is the application_name of every instance's listening
// connection, so that pg_stat_activity lists the instances to wait for.
const listenerName = "thermowatt-revocations"

// ackResend is how often AwaitRevocation asks again those that have not
// confirmed: a listener may have connected but not yet run LISTEN.
const ackResend = 100 * time.Millisecond

// AwaitRevocation returns once every instance listening for revocations
// on this database (WatchRevocations) has confirmed that it forgot token
// id, or an error when some have not within bound. It asks them itself,
// on a connection that listens for the confirmations before asking, so it
// works whenever RevokeToken committed, from serve or from the CLI. An
// instance whose listener is down has its cache off (every request is
// looked up in the database, which already says revoked) and is not
// listed, so it is not waited for; one that disconnects while waited for
// is dropped from the list.
func (s *Store) AwaitRevocation(ctx context.Context, id string, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("postgres: await revocation: %w", mapError(ctx, err))
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+ackChannel); err != nil {
		return fmt.Errorf("postgres: await revocation: %w", mapError(ctx, err))
	}
	waiting := map[string]bool{}
	for {
		// Who is listening now, less who confirmed; then ask them again.
		rows, err := conn.Query(ctx, `SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, listenerName)
		if err != nil {
			return fmt.Errorf("postgres: await revocation: %w", mapError(ctx, err))
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("postgres: await revocation: %w", mapError(ctx, err))
		}
		listening := map[string]bool{}
		for _, p := range pids {
			listening[p] = true
			if _, seen := waiting[p]; !seen {
				waiting[p] = true
			}
		}
		pending := 0
		for p, w := range waiting {
			if !listening[p] {
				delete(waiting, p) // gone: its cache went with it
			} else if w {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", revokedChannel, id); err != nil {
			return fmt.Errorf("postgres: await revocation: %w", mapError(ctx, err))
		}
		round, stop := context.WithTimeout(ctx, ackResend)
		for pending > 0 {
			n, err := conn.WaitForNotification(round)
			if err != nil {
				break
			}
			tok, pid, _ := strings.Cut(n.Payload, " ")
			if tok == id && waiting[pid] {
				waiting[pid] = false
				pending--
			}
		}
		stop()
		if pending == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("token %s: %d instances did not confirm the revocation within %v", id, pending, bound)
		}
	}
}
