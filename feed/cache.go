package feed

import (
	"context"
	"sync"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// DefaultMaxStale is how old a price may get, counted from when it was
// fetched, before it is dropped: between its TTL and this age it is served
// only as stale, and only when no provider has a fresh one.
const DefaultMaxStale = 2 * time.Minute

// minAbsentTTL is the least time a cache remembers that its provider has
// no price for a symbol, so an uncovered symbol is not asked for every
// round.
const minAbsentTTL = time.Minute

// cache is a TTL cache of one provider's prices, per symbol. A price is
// fresh for ttl after it was fetched; after that it is refetched, and
// until maxStale it may still be served as stale by the fallback. Its
// counters count one lookup per symbol: a hit is a fresh price from the
// cache, a miss a symbol that had to be fetched. It is safe for concurrent
// use, but concurrent lookups of the same symbols may both fetch.
type cache struct {
	next     provider
	ttl      time.Duration
	maxStale time.Duration
	clock    Clock
	stats    *providerStats

	mu      sync.Mutex
	entries map[market.Symbol]*cacheEntry
}

type cacheEntry struct {
	price    market.Price
	at       time.Time // when price was fetched; zero when none ever was
	absentAt time.Time // when the provider last answered without the symbol
}

func newCache(next provider, ttl, maxStale time.Duration, clock Clock, stats *providerStats) *cache {
	return &cache{next: next, ttl: ttl, maxStale: maxStale, clock: clock, stats: stats, entries: map[market.Symbol]*cacheEntry{}}
}

func (c *cache) name() string { return c.next.name() }

// fresh returns the fresh prices of syms: those cached within the TTL and
// those fetched now for the rest. Symbols the provider recently answered
// without are neither returned nor asked for again before
// max(ttl, minAbsentTTL). err is the fetch's error, if a fetch was made.
func (c *cache) fresh(ctx context.Context, syms []market.Symbol) (map[market.Symbol]market.Price, error) {
	got := make(map[market.Symbol]market.Price, len(syms))
	var want []market.Symbol
	c.mu.Lock()
	now := c.clock.Now()
	for _, sym := range syms {
		e := c.entries[sym]
		switch {
		case e != nil && !e.at.IsZero() && now.Sub(e.at) < c.ttl:
			got[sym] = e.price
		case e != nil && !e.absentAt.IsZero() && e.absentAt.After(e.at) && now.Sub(e.absentAt) < max(c.ttl, minAbsentTTL):
			// Known to be uncovered: not a lookup.
		default:
			want = append(want, sym)
		}
	}
	c.mu.Unlock()
	c.stats.cache(len(got), len(want))
	if len(want) == 0 {
		return got, nil
	}
	prices, err := c.next.fetch(ctx, want)
	c.mu.Lock()
	defer c.mu.Unlock()
	at := c.clock.Now()
	for _, sym := range want {
		e := c.entries[sym]
		if e == nil {
			e = &cacheEntry{}
			c.entries[sym] = e
		}
		if p, ok := prices[sym]; ok {
			e.price, e.at = p, at
			got[sym] = p
		} else if err == nil {
			e.absentAt = at
		}
	}
	return got, err
}

// stale returns the cached price of sym with the time it was fetched, when
// it is past its TTL but not past maxStale.
func (c *cache) stale(sym market.Symbol) (market.Price, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[sym]
	if e == nil || e.at.IsZero() {
		return 0, time.Time{}, false
	}
	age := c.clock.Now().Sub(e.at)
	if age < c.ttl || age > c.maxStale {
		return 0, time.Time{}, false
	}
	return e.price, e.at, true
}
