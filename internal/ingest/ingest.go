package ingest

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt/internal/reading"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Result is the answer to an ingest request, sent as JSON.
type Result struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// Writer stores readings; store.Store satisfies it, and so does a group
// committer that coalesces concurrent requests into one transaction.
type Writer interface {
	InsertReadings(ctx context.Context, rs []reading.Reading, receivedAt time.Time) (store.InsertResult, error)
}

// Store writes the valid readings of a decoded batch. When it returns nil
// every accepted reading is committed, so the caller may answer 2xx.
func Store(ctx context.Context, w Writer, b Batch, receivedAt time.Time) (Result, error) {
	res := Result{Rejected: b.Rejected}
	if res.Rejected == nil {
		res.Rejected = []Rejection{}
	}
	if len(b.Readings) == 0 {
		return res, nil
	}
	ir, err := w.InsertReadings(ctx, b.Readings, receivedAt)
	if err != nil {
		return Result{}, err
	}
	res.Accepted, res.Duplicates = ir.Accepted, ir.Duplicates
	return res, nil
}
