package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// heldStore is a real store whose first commit waits for release, so that
// the calls made meanwhile queue up and share the next commit.
type heldStore struct {
	store.Store
	entered, release chan struct{}
	once             sync.Once
	mu               sync.Mutex
	sizes            []int // readings per commit
}

func (h *heldStore) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	h.once.Do(func() { close(h.entered); <-h.release })
	h.mu.Lock()
	h.sizes = append(h.sizes, len(rs))
	h.mu.Unlock()
	return h.Store.InsertReadings(ctx, rs, receivedAt)
}

// Requests that share a commit each keep their own received time: the
// readings of a request received at 12:00:01 are not stored as received
// at 12:00:08 because a later request joined their commit. (Alert rules
// judge a reading late by receivedAt - recordedAt.)
func TestGroupCommitKeepsEachRequestsReceivedTime(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			h := &heldStore{Store: b.Open(t), entered: make(chan struct{}), release: make(chan struct{})}
			g := ingest.NewGroupCommitter(h, 1, 1000, 10*time.Second)
			defer g.Close()
			base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

			var wg sync.WaitGroup
			send := func(device string, received time.Time) {
				defer wg.Done()
				rs := []thermowatt.Reading{{DeviceID: device, RecordedAt: base}, {DeviceID: device, RecordedAt: base.Add(time.Minute)}}
				if _, err := g.InsertReadings(context.Background(), rs, received); err != nil {
					t.Errorf("%s: %v", device, err)
				}
			}
			wg.Add(1)
			go send("first", base.Add(time.Second)) // holds the worker until release
			<-h.entered
			const requests = 8
			received := map[string]time.Time{}
			for i := range requests {
				device := fmt.Sprintf("dev-%d", i)
				received[device] = base.Add(time.Duration(10+i) * time.Second)
				wg.Add(1)
				go send(device, received[device])
			}
			deadline := time.Now().Add(10 * time.Second)
			for g.Queued() < requests && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(h.release)
			wg.Wait()

			h.mu.Lock()
			shared := len(h.sizes) == 2 && h.sizes[1] == 2*requests
			sizes := h.sizes
			h.mu.Unlock()
			if !shared {
				t.Fatalf("commits of %v readings: the %d requests did not share one commit, so the test tested nothing", sizes, requests)
			}
			for device, want := range received {
				rows, err := h.QueryReadings(context.Background(), store.Query{DeviceID: device, Limit: 10})
				if err != nil || len(rows) != 2 {
					t.Fatalf("%s: %d readings (%v), want 2", device, len(rows), err)
				}
				for _, r := range rows {
					if !r.ReceivedAt.Equal(want) {
						t.Errorf("%s: reading at %v stored as received %v, want its request's %v", device, r.RecordedAt, r.ReceivedAt, want)
					}
				}
				d, err := h.GetDevice(context.Background(), device)
				if err != nil || d.LastSeenAt == nil || !d.LastSeenAt.Equal(want) || !d.CreatedAt.Equal(want) {
					t.Errorf("%s: device %+v (%v); want created and last seen %v", device, d, err, want)
				}
			}
		})
	}
}
