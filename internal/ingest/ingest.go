// Package ingest is where decoded readings go to be stored: the group
// committer that lets concurrent requests share one commit, and Commit,
// which answers a request only once its readings are committed.
package ingest

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// Writer stores readings; store.Store satisfies it, and so does a group
// committer that coalesces concurrent requests into one transaction.
type Writer interface {
	InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error)
}

// Commit writes the valid readings of a decoded batch. When it returns nil
// every accepted reading is committed, so the caller may answer 2xx.
func Commit(ctx context.Context, w Writer, b wire.Batch, receivedAt time.Time) (wire.Result, error) {
	res := wire.Result{Rejected: b.Rejected}
	if res.Rejected == nil {
		res.Rejected = []wire.Rejection{}
	}
	if len(b.Readings) == 0 {
		return res, nil
	}
	ir, err := w.InsertReadings(ctx, b.Readings, receivedAt)
	if err != nil {
		return wire.Result{}, err
	}
	res.Accepted, res.Duplicates = ir.Accepted, ir.Duplicates
	return res, nil
}
