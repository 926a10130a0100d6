package cli

import (
	"net/url"
	"strconv"
	"strings"
)

// withPoolDefaults fills in two pgx settings that DATABASE_URL leaves out:
//
//   - pool_max_conns: room for MAX_DB_CONCURRENCY request calls, the group
//     committer's workers and the background jobs, so that the bound in
//     front of the store, not a wait for a pooled connection, is what a
//     request meets under load (pgx's default is only max(4, CPUs)).
//   - connect_timeout: a database that does not answer at all (a dropped
//     route, not a refused connection) must fail a call in seconds, so the
//     request is answered 503 rather than hanging.
//
// Settings given in the URL win. Key=value DSNs are returned unchanged.
func withPoolDefaults(databaseURL string, maxDBConcurrency int) string {
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return databaseURL
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return databaseURL // postgres.Open reports it, without echoing it
	}
	q := u.Query()
	if !q.Has("pool_max_conns") && maxDBConcurrency > 0 {
		q.Set("pool_max_conns", strconv.Itoa(maxDBConcurrency+8))
	}
	if !q.Has("connect_timeout") {
		q.Set("connect_timeout", "5")
	}
	u.RawQuery = q.Encode()
	return u.String()
}
