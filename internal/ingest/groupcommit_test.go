package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/reading"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// Many concurrent callers, some sending the same readings: each gets its
// own exact counts, and the store holds every distinct reading once.
func TestGroupCommitAnswersEachCallerWithItsOwnCounts(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			g := ingest.NewGroupCommitter(st, 2, 500, 10*time.Second)
			defer g.Close()
			base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			const devices, perDevice = 40, 5
			var wg sync.WaitGroup
			var mu sync.Mutex
			accepted, duplicates := 0, 0
			for d := range devices {
				for copyN := range 2 { // every reading is sent twice, concurrently
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range perDevice {
							r := reading.Reading{DeviceID: fmt.Sprintf("dev-%02d", d), RecordedAt: base.Add(time.Duration(i) * time.Second)}
							res, err := g.InsertReadings(context.Background(), []reading.Reading{r, r}, time.Now())
							if err != nil {
								t.Error(err)
								return
							}
							if res.Accepted+res.Duplicates != 2 || res.Accepted > 1 || len(res.Inserted) != 2 || res.Inserted[1] {
								t.Errorf("copy %d: %+v", copyN, res)
							}
							mu.Lock()
							accepted += res.Accepted
							duplicates += res.Duplicates
							mu.Unlock()
						}
					}()
				}
			}
			wg.Wait()
			if accepted != devices*perDevice || duplicates != 3*devices*perDevice {
				t.Fatalf("accepted %d duplicates %d, want %d and %d", accepted, duplicates, devices*perDevice, 3*devices*perDevice)
			}
			rows, err := st.QueryReadings(context.Background(), store.Query{Limit: 10000})
			if err != nil || len(rows) != devices*perDevice {
				t.Fatalf("stored %d (%v), want %d", len(rows), err, devices*perDevice)
			}
		})
	}
}
