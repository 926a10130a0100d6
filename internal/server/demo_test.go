package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

// A second `serve --demo` on the same database sends history only since
// the demo devices' newest reading, never over what the first one stored.
func TestDemoHistoryContinuesAnEarlierDemo(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "thermowatt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := []string{"demo-01", "demo-02"}
	now := time.Now().UTC()
	for _, id := range ids {
		if _, err := st.CreateDevice(context.Background(), id, now); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := demoHistoryFor(context.Background(), st, ids, now); err != nil || h != demoHistory {
		t.Fatalf("history on a fresh database = %v %v, want %v", h, err, demoHistory)
	}
	temp := 20.0
	if _, err := st.InsertReadings(context.Background(), []thermowatt.Reading{{DeviceID: "demo-02", RecordedAt: now.Add(-10 * time.Minute), Temperature: &temp}}, now.Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if h, err := demoHistoryFor(context.Background(), st, ids, now); err != nil || h.Round(time.Second) != 10*time.Minute {
		t.Fatalf("history after an earlier demo = %v %v, want the 10 min since its newest reading", h, err)
	}
}
