package httpapi

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// desiredTTL is how long the answer to a device's readings may carry a
// desired state read earlier, at most. Changes made through this server
// are seen at once (invalidate); changes made through another instance
// once this one next reads the database's desired version, at most
// desiredCheckEvery later. The TTL only bounds what a missed check costs.
const desiredTTL = 15 * time.Second

// desiredCheckEvery is how often an instance asks the database whether
// any desired state changed (store.Rollouts.DesiredVersion): one small
// query a second, whatever the fleet's size, and never by a request that
// did not need it.
const desiredCheckEvery = time.Second

// desiredMaxEntries bounds the cache: beyond it, it starts again empty.
// Entries are per registered device (only device tokens look up), so a
// fleet larger than this only costs more lookups.
const desiredMaxEntries = 100_000

// desiredCache keeps each device's desired state for desiredTTL, so that
// answering its readings costs no database work most of the time.
type desiredCache struct {
	st  store.Rollouts
	mu  sync.Mutex
	m   map[string]desiredEntry
	gen uint64 // bumped by invalidate: a lookup begun before keeps its result to itself
	// The database's desired version as last read, when, and whether a
	// request is reading it now (the others go on with the cache).
	version  string
	checked  time.Time
	checking bool
}

type desiredEntry struct {
	d       thermowatt.Desired
	expires time.Time
}

func newDesiredCache(st store.Rollouts) *desiredCache {
	return &desiredCache{st: st, m: make(map[string]desiredEntry)}
}

// get returns a device's desired state; ok is false when the database
// could not be asked and nothing was cached. A stale entry is better than
// none when the database fails: the readings are committed already, and
// the answer must not fail for what only rides along.
func (c *desiredCache) get(ctx context.Context, deviceID string) (d thermowatt.Desired, ok bool) {
	now := time.Now()
	c.checkVersion(ctx, now)
	c.mu.Lock()
	e, found := c.m[deviceID]
	gen := c.gen
	c.mu.Unlock()
	if found && now.Before(e.expires) {
		return e.d, true
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), countTimeout)
	defer cancel()
	d, err := c.st.Desired(ctx, deviceID)
	if err != nil {
		return e.d, found
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		if len(c.m) >= desiredMaxEntries {
			c.m = make(map[string]desiredEntry)
		}
		c.m[deviceID] = desiredEntry{d: d, expires: now.Add(desiredTTL)}
	}
	return d, true
}

// checkVersion forgets every cached state when the database's desired
// version moved (a change made through another instance), asking at most
// once per desiredCheckEvery, one request at a time.
func (c *desiredCache) checkVersion(ctx context.Context, now time.Time) {
	c.mu.Lock()
	if c.checking || now.Sub(c.checked) < desiredCheckEvery {
		c.mu.Unlock()
		return
	}
	c.checking = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), countTimeout)
	defer cancel()
	v, err := c.st.DesiredVersion(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checking, c.checked = false, now
	if err != nil {
		return // asked again a second later; the TTL still bounds staleness
	}
	if v != c.version {
		c.version = v
		c.gen++
		c.m = make(map[string]desiredEntry)
	}
}

// invalidate forgets every device's state after a settings or rollout
// change, which may concern any number of devices.
func (c *desiredCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m = make(map[string]desiredEntry)
}

// appendDesired adds the desired state to an ingest answer made by
// appendResult: ,"desired":{"settingsRev":N,"firmware":"V"|null} before
// its closing brace.
func appendDesired(answer []byte, d thermowatt.Desired) []byte {
	b := answer[:len(answer)-2] // "}\n"
	b = append(b, `,"desired":{"settingsRev":`...)
	b = strconv.AppendInt(b, d.SettingsRev, 10)
	b = append(b, `,"firmware":`...)
	if d.Firmware == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, d.Firmware)
	}
	return append(b, "}}\n"...)
}
