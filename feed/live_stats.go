package feed

import (
	"sync"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// LiveStats is a snapshot of a Live source's counters, taken by Live.Stats.
// Counters only grow; a scraper computes rates from them.
type LiveStats struct {
	// Providers are in fallback order.
	Providers []ProviderStats
	// Symbols are in the configured order.
	Symbols []SymbolStats
	// Rounds counts fetch rounds: one per Interval while Next is called.
	Rounds uint64
	// Offline is set while the last round got no fresh price at all.
	Offline bool
}

// ProviderStats are one provider's counters.
type ProviderStats struct {
	Name string
	// Requests counts HTTP requests sent, retries included.
	Requests uint64
	// Failures counts the requests that failed, whatever the reason.
	Failures uint64
	// Errors counts failures by reason: every failed request, plus every
	// call refused without a request (breaker_open; rate_limited by the
	// local limiter or a running Retry-After; auth for a missing key). It
	// holds every reason of Reasons, zeros included.
	Errors map[Reason]uint64
	// CacheHits and CacheMisses count symbol lookups: a hit is a fresh
	// price served from the cache, a miss a symbol that had to be fetched.
	CacheHits, CacheMisses uint64
	// StaleServed counts ticks served stale from this provider's cache.
	StaleServed uint64
	// Latency is the duration of every request, failed ones included.
	Latency LatencyHistogram
	// Breaker is the circuit breaker's state.
	Breaker BreakerState
}

// LatencyHistogram is a cumulative histogram in the Prometheus layout.
type LatencyHistogram struct {
	Count uint64
	Sum   time.Duration
	// Bounds are the buckets' upper bounds, ascending; Counts[i] is how
	// many requests took at most Bounds[i] (cumulative). Count covers the
	// rest (+Inf).
	Bounds []time.Duration
	Counts []uint64
}

// latencyBounds are the histogram's bucket bounds: request latencies of
// price APIs, from a nearby proxy to a request that times out.
var latencyBounds = []time.Duration{
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// SymbolStats tell what the feed knows about one symbol.
type SymbolStats struct {
	Symbol market.Symbol
	// LastTick is the time of the symbol's last tick; zero before the first.
	LastTick time.Time
	// Provider is the Source of the last tick, Stale whether it was stale.
	Provider string
	Stale    bool
	// Missing says why the last round gave the symbol no tick, provider by
	// provider ("no fresh or recent price: coingecko: http_5xx; coinbase:
	// not covered"); "" when it had one.
	Missing string
}

// CacheHitRate is the percentage (0–100) of symbol lookups answered from a
// cache, over all providers; 100 before the first lookup, when none has
// missed (the convention of RequestSuccessRate: no traffic is not a 0 %
// rate, and an alert on a low rate must not fire on a feed that fetches
// nothing).
func (s LiveStats) CacheHitRate() float64 {
	var hits, all uint64
	for _, p := range s.Providers {
		hits += p.CacheHits
		all += p.CacheHits + p.CacheMisses
	}
	if all == 0 {
		return 100
	}
	return 100 * float64(hits) / float64(all)
}

// RequestSuccessRate is the percentage (0–100) of HTTP requests that
// succeeded, over all providers; 100 before the first request, when none
// has failed.
func (s LiveStats) RequestSuccessRate() float64 {
	var reqs, fails uint64
	for _, p := range s.Providers {
		reqs += p.Requests
		fails += p.Failures
	}
	if reqs == 0 {
		return 100
	}
	return 100 * float64(reqs-fails) / float64(reqs)
}

// ErrorsTotal sums the errors of every provider and reason.
func (s LiveStats) ErrorsTotal() uint64 {
	var n uint64
	for _, p := range s.Providers {
		for _, v := range p.Errors {
			n += v
		}
	}
	return n
}

// providerStats are one provider's live counters, shared by its layers.
type providerStats struct {
	name      string
	onRequest func(provider string, d time.Duration, r Reason)

	mu       sync.Mutex
	requests uint64
	failures uint64
	errors   [numReasons]uint64
	hits     uint64
	misses   uint64
	stale    uint64
	count    uint64
	sum      time.Duration
	buckets  []uint64 // not cumulative
}

func newProviderStats(name string, onRequest func(string, time.Duration, Reason)) *providerStats {
	return &providerStats{name: name, onRequest: onRequest, buckets: make([]uint64, len(latencyBounds))}
}

// request records one HTTP request; r is "" when it succeeded.
func (s *providerStats) request(d time.Duration, r Reason) {
	s.mu.Lock()
	s.requests++
	if r != "" {
		s.failures++
		s.errors[r.index()]++
	}
	s.count++
	s.sum += d
	for i, b := range latencyBounds {
		if d <= b {
			s.buckets[i]++
			break
		}
	}
	s.mu.Unlock()
	if s.onRequest != nil {
		s.onRequest(s.name, d, r)
	}
}

// refuse records a call refused without a request.
func (s *providerStats) refuse(r Reason) {
	s.mu.Lock()
	s.errors[r.index()]++
	s.mu.Unlock()
}

func (s *providerStats) cache(hits, misses int) {
	s.mu.Lock()
	s.hits += uint64(hits)
	s.misses += uint64(misses)
	s.mu.Unlock()
}

func (s *providerStats) staleServed() {
	s.mu.Lock()
	s.stale++
	s.mu.Unlock()
}

func (s *providerStats) snapshot() ProviderStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := ProviderStats{
		Name: s.name, Requests: s.requests, Failures: s.failures,
		Errors:    make(map[Reason]uint64, numReasons),
		CacheHits: s.hits, CacheMisses: s.misses, StaleServed: s.stale,
		Latency: LatencyHistogram{Count: s.count, Sum: s.sum, Bounds: append([]time.Duration(nil), latencyBounds...), Counts: make([]uint64, len(latencyBounds))},
	}
	for i, r := range Reasons() {
		p.Errors[r] = s.errors[i]
	}
	var cum uint64
	for i, n := range s.buckets {
		cum += n
		p.Latency.Counts[i] = cum
	}
	return p
}
