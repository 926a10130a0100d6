package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
	"github.com/thermowatt/thermowatt/internal/store/storetest"
)

// The roll-ups stay exact when the materializer's write transactions
// take one hour each (the budget of readings cut at the first): the
// hours left over are taken by the next transaction of the same call.
func TestRollupsWithOneHourPerTransaction(t *testing.T) {
	storetest.RunRollups(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "thermowatt.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		sqlite.SetMaterializeReadings(s, 1)
		return s
	})
}
