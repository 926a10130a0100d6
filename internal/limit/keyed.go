// Package limit keeps the service within bounds under load or abuse: rate
// limits per key (token, client address) and a gate that bounds concurrent
// database work, answering "busy, come back in a moment" beyond it rather
// than letting requests pile up.
package limit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a token-bucket rate limiter per key. Its memory is bounded: a
// flood of distinct keys (addresses, made-up token ids) cannot grow it past
// maxKeys, because entries whose bucket has refilled are dropped (they are
// indistinguishable from a fresh one) and, should that not be enough,
// arbitrary entries are dropped too, which can only ever be lenient.
type Keyed struct {
	rate    rate.Limit
	burst   int
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

// DefaultMaxKeys bounds a Keyed's memory to a few MiB.
const DefaultMaxKeys = 50_000

// NewKeyed allows each key perSecond requests per second, burst at once.
// perSecond 0 means no limit: Allow always says yes.
func NewKeyed(perSecond float64, burst, maxKeys int) *Keyed {
	if burst < 1 {
		burst = 1
	}
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	return &Keyed{rate: rate.Limit(perSecond), burst: burst, maxKeys: maxKeys, now: time.Now,
		keys: make(map[string]*rate.Limiter)}
}

// Allow takes one request from key's bucket. When the bucket is empty it
// returns false and how long until a request would be allowed.
func (k *Keyed) Allow(key string) (ok bool, retryAfter time.Duration) {
	if k == nil || k.rate == 0 {
		return true, 0
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	lim, found := k.keys[key]
	if !found {
		if len(k.keys) >= k.maxKeys {
			k.shrink(now)
		}
		lim = rate.NewLimiter(k.rate, k.burst)
		k.keys[key] = lim
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(math.Ceil(missing / float64(k.rate) * float64(time.Second)))
}

// Len is the number of keys held, for tests and metrics.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// shrink makes room: first every key whose bucket is full again, then, if
// the map is still more than half full, arbitrary keys down to half. Each
// call frees at least half the map, so the cost is amortised O(1) per key.
func (k *Keyed) shrink(now time.Time) {
	for key, lim := range k.keys {
		if lim.TokensAt(now) >= float64(k.burst) {
			delete(k.keys, key)
		}
	}
	for key := range k.keys {
		if len(k.keys) <= k.maxKeys/2 {
			break
		}
		delete(k.keys, key)
	}
}
