package limit

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt/internal/reading"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Store bounds the concurrent calls requests make on a store: each call
// holds a slot of the gate for its duration and is cut off after timeout,
// so a slow or stalled database answers 503 instead of collecting
// goroutines and pool connections. Methods it does not list (added to
// store.Store later) pass through unbounded.
type Store struct {
	store.Store
	gate    *Gate
	timeout time.Duration
}

// NewStore puts gate in front of s; timeout bounds each call (0: none).
func NewStore(s store.Store, gate *Gate, timeout time.Duration) *Store {
	return &Store{Store: s, gate: gate, timeout: timeout}
}

// Gate returns the gate, for tests and metrics.
func (s *Store) Gate() *Gate { return s.gate }

func call[T any](s *Store, ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	var out T
	err := s.gate.run(ctx, s.timeout, func(ctx context.Context) (err error) {
		out, err = fn(ctx)
		return err
	})
	return out, err
}

func (s *Store) InsertReadings(ctx context.Context, rs []reading.Reading, receivedAt time.Time) (store.InsertResult, error) {
	return call(s, ctx, func(ctx context.Context) (store.InsertResult, error) {
		return s.Store.InsertReadings(ctx, rs, receivedAt)
	})
}

func (s *Store) QueryReadings(ctx context.Context, q store.Query) ([]reading.Stored, error) {
	return call(s, ctx, func(ctx context.Context) ([]reading.Stored, error) { return s.Store.QueryReadings(ctx, q) })
}

func (s *Store) CreateDevice(ctx context.Context, id string, now time.Time) (store.Device, error) {
	return call(s, ctx, func(ctx context.Context) (store.Device, error) { return s.Store.CreateDevice(ctx, id, now) })
}

func (s *Store) GetDevice(ctx context.Context, id string) (store.Device, error) {
	return call(s, ctx, func(ctx context.Context) (store.Device, error) { return s.Store.GetDevice(ctx, id) })
}

func (s *Store) ListDevices(ctx context.Context) ([]store.Device, error) {
	return call(s, ctx, s.Store.ListDevices)
}

func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.Store.CreateToken(ctx, t) })
}

func (s *Store) TokenByID(ctx context.Context, id string) (store.Token, error) {
	return call(s, ctx, func(ctx context.Context) (store.Token, error) { return s.Store.TokenByID(ctx, id) })
}

func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	return call(s, ctx, s.Store.ListTokens)
}

func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	return s.gate.run(ctx, s.timeout, func(ctx context.Context) error { return s.Store.RevokeToken(ctx, id, now) })
}

func (s *Store) CountTokens(ctx context.Context, scope string) (int, error) {
	return call(s, ctx, func(ctx context.Context) (int, error) { return s.Store.CountTokens(ctx, scope) })
}

func (s *Store) ArchiveRaw(ctx context.Context, r store.RawRecord) (int64, error) {
	return call(s, ctx, func(ctx context.Context) (int64, error) { return s.Store.ArchiveRaw(ctx, r) })
}

func (s *Store) GetRaw(ctx context.Context, id int64) (store.RawRecord, error) {
	return call(s, ctx, func(ctx context.Context) (store.RawRecord, error) { return s.Store.GetRaw(ctx, id) })
}

// Writer is where readings are committed (ingest.Writer).
type Writer interface {
	InsertReadings(ctx context.Context, rs []reading.Reading, receivedAt time.Time) (store.InsertResult, error)
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

func (b *BoundWriter) InsertReadings(ctx context.Context, rs []reading.Reading, receivedAt time.Time) (store.InsertResult, error) {
	if err := b.gate.Acquire(ctx); err != nil {
		return store.InsertResult{}, err
	}
	defer b.gate.Release()
	return b.w.InsertReadings(ctx, rs, receivedAt)
}
