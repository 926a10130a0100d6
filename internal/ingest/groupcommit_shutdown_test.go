package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// Shutting down under load: while many callers insert, Close runs. Every
// call returns (none waits for ever on a queue the workers have left), a
// call refused for the shutdown says so as unavailable (503, so the device
// retries), and every reading whose call succeeded is stored while no
// refused one is. Each caller keeps calling until it is refused, so calls
// are made before, during and after Close.
func TestGroupCommitShutdownUnderLoadAnswersEveryCall(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			g := ingest.NewGroupCommitter(st, 2, 50, 10*time.Second)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

			const callers = 32
			var (
				wg        sync.WaitGroup
				committed atomic.Int64
				mu        sync.Mutex
				acked     = map[string]bool{} // device id -> its call succeeded
			)
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; ; n++ {
						id := fmt.Sprintf("d%02d-%05d", i, n)
						_, err := g.InsertReadings(context.Background(), []thermowatt.Reading{{DeviceID: id, RecordedAt: at}}, time.Now())
						mu.Lock()
						acked[id] = err == nil
						mu.Unlock()
						if err != nil {
							if !errors.Is(err, thermowatt.ErrUnavailable) {
								t.Errorf("caller %d: %v, want unavailable (the server is shutting down)", i, err)
							}
							return
						}
						committed.Add(1)
					}
				}()
			}
			// Close once the load is on: commits are being shared.
			for committed.Load() < 2*callers {
				time.Sleep(time.Millisecond)
			}
			closed := make(chan struct{})
			go func() { g.Close(); close(closed) }()

			returned := make(chan struct{})
			go func() { wg.Wait(); <-closed; close(returned) }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			select {
			case <-returned:
			case <-ctx.Done():
				t.Fatal("InsertReadings or Close did not return within 30 s of Close: a call is waiting for a commit that will never come")
			}

			rows, err := st.QueryReadings(context.Background(), store.Query{Limit: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			stored := make(map[string]bool, len(rows))
			for _, r := range rows {
				stored[r.DeviceID] = true
			}
			for id, ok := range acked {
				switch {
				case ok && !stored[id]:
					t.Errorf("reading of %s acknowledged but not stored", id)
				case !ok && stored[id]:
					t.Errorf("reading of %s stored although its call was refused", id)
				}
			}
		})
	}
}
