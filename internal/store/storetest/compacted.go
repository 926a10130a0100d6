package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// RunCompacted runs the conformance suite with compaction forced on: after
// every InsertReadings, every day holding readings is compacted
// (store.Compactor, with a cutoff far ahead: the current day too), so
// that every answer of the suite, pages, series, roll-ups, duplicates and
// retention included, is given from blocks (and the rows a backfill adds
// to a compacted day before it is compacted again), and must equal what
// the same suite wants of the store uncompacted.
func RunCompacted(t *testing.T, open func(t *testing.T) store.Store) {
	run(t, func(t *testing.T) store.Store {
		s := open(t)
		c, ok := s.(store.Compactor)
		if !ok {
			t.Fatalf("%T does not compact (store.Compactor)", s)
		}
		return compacting{Store: s, c: c}
	}, compactionGaps)
}

// compactionGaps are the tests of what compaction does not cover yet,
// with why: none.
var compactionGaps = map[string]string{}

// compactEverything is the cutoff RunCompacted compacts before.
var compactEverything = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)

// compacting is a store that compacts everything after every insert.
type compacting struct {
	store.Store
	c store.Compactor
}

func (s compacting) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	res, err := s.Store.InsertReadings(ctx, rs, receivedAt)
	if err != nil {
		return res, err
	}
	return res, store.CompactPass(ctx, s.c, compactEverything, 1000)
}
