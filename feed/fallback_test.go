package feed

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// two configures a Live over two fake APIs, in this fallback order.
func two(a, b *fakeAPI, syms ...market.Symbol) LiveConfig {
	return LiveConfig{Symbols: syms, Providers: []ProviderConfig{
		{Name: a.provider, BaseURL: a.URL, APIKey: "k"},
		{Name: b.provider, BaseURL: b.URL, APIKey: "k"},
	}}
}

// The first provider goes down: its symbols come from the next one; when it
// comes back, they come from it again.
func TestFallbackDownAndRecovery(t *testing.T) {
	cg, cb := newFakeAPI(t, "coingecko"), newFakeAPI(t, "coinbase")
	var down atomic.Bool
	cg.set(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		serveSample(t, "coingecko", w, r)
	})
	l, clock, logs := newTestLive(t, two(cg, cb, "BTC-USD", "ETH-USD"))
	fromCG := []string{"BTC-USD 45000.10 coingecko", "ETH-USD 2500.55 coingecko"}
	fromCB := []string{"BTC-USD 45003.17 coinbase", "ETH-USD 2500.01 coinbase"}
	steps := []struct {
		name string
		down bool
		want []string
		cb   int // coinbase requests so far
	}{
		{"both up: the first answers", false, fromCG, 0},
		{"first down: the next answers", true, fromCB, 2},
		{"still down", true, fromCB, 4},
		{"first back", false, fromCG, 4},
	}
	for _, s := range steps {
		down.Store(s.down)
		if got := show(round(t, l)); !slices.Equal(got, s.want) {
			t.Errorf("%s: ticks %q, want %q", s.name, got, s.want)
		}
		if cb.count() != s.cb {
			t.Errorf("%s: %d coinbase requests, want %d", s.name, cb.count(), s.cb)
		}
		clock.advance(time.Minute) // past both TTLs
	}
	st := l.Stats()
	if st.Offline || st.Providers[0].Errors[ReasonHTTP5xx] != 6 || st.Providers[0].Breaker != BreakerClosed {
		t.Errorf("stats %+v", st.Providers[0])
	}
	if logs.count("no provider answers") != 0 || logs.count("no price for symbol") != 0 {
		t.Errorf("a fallback is not an outage; log:\n%s", logs)
	}
}

// Each symbol takes the first provider that has it; only the symbols still
// missing are asked of the next.
func TestFallbackMerges(t *testing.T) {
	cg, cb := newFakeAPI(t, "coingecko"), newFakeAPI(t, "coinbase")
	cg.set(func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, 200, "application/json", []byte(`{"bitcoin":{"usd":45000.1},"ethereum":{"usd":2500.55}}`))
	})
	l, _, _ := newTestLive(t, two(cg, cb, "BTC-USD", "SOL-USD", "ETH-USD", "XYZ-USD"))
	want := []string{"BTC-USD 45000.10 coingecko", "SOL-USD 98.765 coinbase", "ETH-USD 2500.55 coingecko"}
	if got := show(round(t, l)); !slices.Equal(got, want) {
		t.Errorf("ticks\n got %q\nwant %q", got, want)
	}
	var paths []string
	for _, r := range cb.requests() {
		paths = append(paths, r.path)
	}
	if want := []string{"/products/SOL-USD/ticker", "/products/XYZ-USD/ticker"}; !slices.Equal(paths, want) {
		t.Errorf("coinbase asked for %q, want %q", paths, want)
	}
	miss := l.Stats().Symbols[3]
	if miss.Symbol != "XYZ-USD" || miss.Missing != "no fresh or recent price: coingecko: not covered; coinbase: not covered" {
		t.Errorf("stats %+v", miss)
	}
}

// With no fresh price anywhere, a symbol takes the most recent stale one.
func TestFallbackFreshestStale(t *testing.T) {
	cd, cb := newFakeAPI(t, "coindesk"), newFakeAPI(t, "coinbase")
	cfg := two(cd, cb, "BTC-USD")
	l, clock, _ := newTestLive(t, cfg)
	var cdDown, cbDown atomic.Bool
	cd.set(func(w http.ResponseWriter, r *http.Request) {
		if cdDown.Load() {
			w.WriteHeader(500)
			return
		}
		serveSample(t, "coindesk", w, r)
	})
	cb.set(func(w http.ResponseWriter, r *http.Request) {
		if cbDown.Load() {
			w.WriteHeader(500)
			return
		}
		serveSample(t, "coinbase", w, r)
	})
	round(t, l) // coindesk's price at 0 s
	cdDown.Store(true)
	clock.advance(20 * time.Second)
	if got := show(round(t, l)); !slices.Equal(got, []string{"BTC-USD 45003.17 coinbase"}) {
		t.Fatalf("ticks %q", got) // coinbase's price at 20 s
	}
	cbDown.Store(true)
	clock.advance(20 * time.Second)
	if got := show(round(t, l)); !slices.Equal(got, []string{"BTC-USD 45003.17 coinbase stale"}) {
		t.Errorf("ticks %q, want coinbase's newer stale price", got)
	}
	if s := l.Stats().Symbols[0]; !s.Stale || s.Provider != "coinbase" || s.Missing != "" {
		t.Errorf("stats %+v", s)
	}
	if n := l.Stats().Providers[1].StaleServed; n != 1 {
		t.Errorf("stale served %d", n)
	}
	// Past MaxStale for both: no tick, and the reason names each provider.
	clock.advance(DefaultMaxStale)
	if got := round(t, l); len(got) != 0 {
		t.Errorf("ticks %q, want none", show(got))
	}
	if m := l.Stats().Symbols[0].Missing; !strings.Contains(m, "coindesk: http_5xx; coinbase: http_5xx") {
		t.Errorf("missing %q", m)
	}
}
