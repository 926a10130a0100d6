package limit

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Writer is where readings are committed (ingest.Writer).
type Writer interface {
	InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error)
}

// BoundWriter bounds the ingest requests waiting on w at once. A group
// committer coalesces whatever waits into few transactions, so the bound
// is on memory (each waiting request holds its decoded batch) rather than
// on the database.
type BoundWriter struct {
	w    Writer
	gate *Gate
}

// NewWriter puts gate in front of w.
func NewWriter(w Writer, gate *Gate) *BoundWriter { return &BoundWriter{w: w, gate: gate} }

func (b *BoundWriter) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	if err := b.gate.Acquire(ctx); err != nil {
		return store.InsertResult{}, err
	}
	defer b.gate.Release()
	return b.w.InsertReadings(ctx, rs, receivedAt)
}
