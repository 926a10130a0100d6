package httpapi

import (
	"context"
	"sync"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// sharedFiles holds the firmware files being downloaded, one copy per file
// however many devices fetch it at once. A rollout sends every device of
// the fleet after the same files at about the same time, and a device on
// a weak link stalls mid-file for minutes: with a copy per request, 40
// stalled downloads of a 24 MB file held 40 copies (RSS 290 → 1,216 MiB).
// Here they share one, loaded once, and dropped when the last of them
// ends. A release never changes once published (a version is published
// once), so sharing can never serve stale bytes; and since nothing is
// kept after the last download, a deleted release is not served from
// memory either. The store's interface gives a file whole; reading it in
// chunks would need a store method, which is the write path's to add.
type sharedFiles struct {
	mu    sync.Mutex
	files map[[2]string]*sharedFile
}

type sharedFile struct {
	loaded chan struct{} // closed once f and err are set
	f      thermowatt.FirmwareFile
	err    error
	users  int
}

// get returns a release file, loading it unless a download in flight
// already has; done must be called when the answer is written.
func (c *sharedFiles) get(ctx context.Context, st store.Firmware, version, path string) (f thermowatt.FirmwareFile, done func(), err error) {
	key := [2]string{version, path}
	c.mu.Lock()
	if c.files == nil {
		c.files = map[[2]string]*sharedFile{}
	}
	e := c.files[key]
	first := e == nil
	if first {
		e = &sharedFile{loaded: make(chan struct{})}
		c.files[key] = e
	}
	e.users++
	c.mu.Unlock()
	done = func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if e.users--; e.users == 0 && c.files[key] == e {
			delete(c.files, key)
		}
	}
	if first {
		// Loaded for everyone waiting: one requester giving up must not
		// fail the others.
		e.f, e.err = st.FirmwareFile(context.WithoutCancel(ctx), version, path)
		if e.err != nil {
			c.mu.Lock()
			if c.files[key] == e {
				delete(c.files, key) // the next request tries again
			}
			c.mu.Unlock()
		}
		close(e.loaded)
	} else {
		select {
		case <-e.loaded:
		case <-ctx.Done():
			done()
			return thermowatt.FirmwareFile{}, nil, ctx.Err()
		}
	}
	if e.err != nil {
		done()
		return thermowatt.FirmwareFile{}, nil, e.err
	}
	return e.f, done, nil
}

// inFlight is how many distinct files are held (for tests).
func (c *sharedFiles) inFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files)
}
