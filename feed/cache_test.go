package feed

import (
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// The cache counts a hit per symbol served fresh and a miss per symbol
// fetched; a price is fresh for its TTL, then served stale only while no
// provider has a fresh one and only up to MaxStale, then not at all.
func TestCacheAccountingAndStaleness(t *testing.T) {
	api := newFakeAPI(t, "coingecko")
	var down atomic.Bool
	api.set(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			writeBody(w, 503, "text/html", []byte("<h1>maintenance</h1>"))
			return
		}
		serveSample(t, "coingecko", w, r)
	})
	syms := []market.Symbol{"BTC-USD", "ETH-USD"}
	cfg := oneProvider(api, "", syms...)
	cfg.Providers[0].RateLimit, cfg.Providers[0].Burst = 100, 10 // not the subject here
	l, clock, logs := newTestLive(t, cfg)
	fresh := []string{"BTC-USD 45000.10 coingecko", "ETH-USD 2500.55 coingecko"}
	stale := []string{"BTC-USD 45000.10 coingecko stale", "ETH-USD 2500.55 coingecko stale"}
	steps := []struct {
		name          string
		advance       time.Duration
		down          bool
		want          []string
		requests      int // in all, so far
		hits, misses  uint64
		staleServed   uint64
		offline       bool
		missingPrefix string
	}{
		{"first round fetches", 0, false, fresh, 1, 0, 2, 0, false, ""},
		{"within the TTL: hits", 30 * time.Second, false, fresh, 1, 2, 2, 0, false, ""},
		{"just before the TTL", 30*time.Second - time.Nanosecond, false, fresh, 1, 4, 2, 0, false, ""},
		{"TTL reached: refetch", time.Nanosecond, false, fresh, 2, 4, 4, 0, false, ""},
		{"provider down after the TTL: stale", 60 * time.Second, true, stale, 5, 4, 6, 2, true, ""},
		// Retries' backoffs move the clock on by under a second a round.
		{"still within MaxStale", 50 * time.Second, true, stale, 8, 4, 8, 4, true, ""},
		{"past MaxStale: nothing", 10 * time.Second, true, nil, 11, 4, 10, 4, true, "no fresh or recent price: coingecko: http_5xx"},
		{"recovered", 0, false, fresh, 12, 4, 12, 4, false, ""},
	}
	for _, s := range steps {
		clock.advance(s.advance)
		down.Store(s.down)
		got := show(round(t, l))
		if !slices.Equal(got, s.want) {
			t.Errorf("%s: ticks %q, want %q", s.name, got, s.want)
		}
		st := l.Stats()
		p := st.Providers[0]
		if api.count() != s.requests || p.CacheHits != s.hits || p.CacheMisses != s.misses || p.StaleServed != s.staleServed || st.Offline != s.offline {
			t.Errorf("%s: %d requests, hits %d, misses %d, stale %d, offline %v; want %d, %d, %d, %d, %v",
				s.name, api.count(), p.CacheHits, p.CacheMisses, p.StaleServed, st.Offline, s.requests, s.hits, s.misses, s.staleServed, s.offline)
		}
		for _, sym := range st.Symbols {
			if sym.Missing != s.missingPrefix {
				t.Errorf("%s: %s missing %q, want %q", s.name, sym.Symbol, sym.Missing, s.missingPrefix)
			}
		}
	}
	st := l.Stats()
	if r := st.CacheHitRate(); r != 25 {
		t.Errorf("hit rate %v, want 4 of 16 = 25", r)
	}
	if logs.count("no provider answers") != 1 || logs.count("prices recovered") != 1 {
		t.Errorf("log:\n%s", logs)
	}
	if s := st.Symbols[0]; s.Provider != "coingecko" || s.Stale || !s.LastTick.Equal(clock.Now()) {
		t.Errorf("symbol stats %+v", s)
	}
}

// The stale window is counted from the fetch: a MaxStale shorter than the
// TTL leaves none.
func TestCacheNoStaleWindow(t *testing.T) {
	api := newFakeAPI(t, "coinbase")
	cfg := oneProvider(api, "", "BTC-USD")
	cfg.MaxStale = time.Second
	l, clock, _ := newTestLive(t, cfg)
	round(t, l)
	api.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	clock.advance(5 * time.Second)
	if got := round(t, l); len(got) != 0 {
		t.Errorf("ticks %q, want none", show(got))
	}
}
