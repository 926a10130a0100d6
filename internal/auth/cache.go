package auth

import (
	"sync"
	"time"
)

// verifiedCache remembers tokens verified recently, by the SHA-256 of the
// secret, so that a device's next request is admitted without a database
// query. Profiles of `make bench-peers` showed the per-request token query
// as the largest cost of a single-reading request on PostgreSQL (in the
// server and in the database).
//
// A revoked token must be refused by the very next request, so the cache
// is correct only while it hears of every revocation: Forget is called
// for each (by the store, on every instance), and while revocations may
// be missed (the store's notification channel is down) the cache is off
// and emptied. Only successful verifications are kept: an unknown token
// always reaches the database.
type verifiedCache struct {
	ttl time.Duration
	max int

	mu      sync.RWMutex
	live    bool // revocations are being heard
	gen     uint64
	entries map[[32]byte]cachedPrincipal
}

type cachedPrincipal struct {
	p       Principal
	expires time.Time
}

func (c *verifiedCache) get(h [32]byte, now time.Time) (Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[h]
	live := c.live
	c.mu.RUnlock()
	if !ok || !live || !now.Before(e.expires) {
		return Principal{}, false
	}
	return e.p, true
}

// generation is read before a database look-up; put keeps the result only
// if no revocation arrived meanwhile (the look-up may predate it).
func (c *verifiedCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *verifiedCache) put(h [32]byte, p Principal, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if len(c.entries) >= c.max {
		// Full: drop what has expired; if nothing has, drop an arbitrary
		// entry (map order), which costs its token one query later.
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[h] = cachedPrincipal{p: p, expires: now.Add(c.ttl)}
}

// forget drops tokenID's entries, or every entry when tokenID is empty.
func (c *verifiedCache) forget(tokenID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if tokenID == "" || e.p.TokenID == tokenID {
			delete(c.entries, k)
		}
	}
}

func (c *verifiedCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.entries)
}

// WithCache makes the verifier remember verified tokens for ttl, at most
// max of them. The cache stays off until SetRevocationsLive(true): the
// caller must first make sure every revocation reaches Forget (the
// store's WatchRevocations does both, store.RevocationWatcher).
func WithCache(ttl time.Duration, max int) Option {
	return func(v *Verifier) {
		v.cache = &verifiedCache{ttl: ttl, max: max, entries: make(map[[32]byte]cachedPrincipal)}
	}
}

// Forget drops a revoked token from the cache; an empty id drops all.
func (v *Verifier) Forget(tokenID string) {
	if v.cache != nil {
		v.cache.forget(tokenID)
	}
}

// SetRevocationsLive turns the cache on while revocations are heard, and
// off (emptied) while they may be missed.
func (v *Verifier) SetRevocationsLive(live bool) {
	if v.cache != nil {
		v.cache.setLive(live)
	}
}
