package sqlite_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

// Writers that never pause keep a checkpoint beside them from ever copying
// the whole WAL, and SQLite starts a WAL over only once it has: the WAL
// grew by every commit (260 MiB in 40 s in the soak) until the checkpointer
// learnt to take the writer's connection for one checkpoint once the WAL
// holds walRestartPages (checkpoint.go). Here four writers keep the one
// writer connection busy, and the WAL must start over again and again.
func TestWALStartsOverUnderWritersThatNeverPause(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	s := openFile(t, path)
	sqlite.SetWALRestartPages(s, 256) // 1 MiB, rather than hundreds written

	// A WAL's header counts how many times it has started over: its
	// checkpoint sequence number, big-endian at byte 12.
	restarts := func() uint32 {
		t.Helper()
		f, err := os.Open(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var hdr [32]byte
		if _, err := io.ReadFull(f, hdr[:]); err != nil {
			return 0 // no header written yet
		}
		return binary.BigEndian.Uint32(hdr[12:16])
	}

	writing, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	// Readings from six hours ago on, a second apart per device, 20 devices
	// of 100 per batch: each commit dirties pages all over the indexes.
	base := time.Now().Add(-6 * time.Hour).Truncate(time.Second)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 20_000 && writing.Err() == nil; i++ {
				rs := make([]thermowatt.Reading, 0, 20)
				for d := range 20 {
					v := 20 + float64(d)/10
					rs = append(rs, thermowatt.Reading{DeviceID: fmt.Sprintf("w%d-d%d", w, (i*20+d)%100),
						RecordedAt: base.Add(time.Duration(i) * time.Second), Temperature: &v})
				}
				if _, err := s.InsertReadings(writing, rs, time.Now()); err != nil && writing.Err() == nil {
					t.Errorf("InsertReadings: %v", err)
					return
				}
			}
		})
	}

	// Between two ticks of the checkpointer (a second) the writers append
	// tens of MiB (45 at most here); without the writer's checkpoint the
	// WAL starts over only where the writer checkpoints itself, at
	// walSafetyPages (512 MiB).
	const most = 256 << 20
	first, largest := restarts(), int64(0)
	deadline := time.Now().Add(90 * time.Second)
	for restarts()-first < 3 {
		info, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if largest = max(largest, info.Size()); largest > most {
			t.Fatalf("the WAL grew to %d MiB under writers that never pause, having started over %d times; want it to start over before %d MiB",
				largest>>20, restarts()-first, most>>20)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL started over %d times in 90 s of writers that never pause; want 3", restarts()-first)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the WAL started over 3 times, its file at most %d kB", largest>>10)
}
