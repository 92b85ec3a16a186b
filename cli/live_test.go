package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// fakeGecko serves CoinGecko's simple/price shape, moving every price by
// one cent per request, and remembers what it served.
type fakeGecko struct {
	mu     sync.Mutex
	n      int
	served map[market.Symbol][]string // exact price text, per symbol
}

var geckoIDs = map[string]market.Symbol{"bitcoin": "BTC-USD", "ethereum": "ETH-USD", "solana": "SOL-USD"}

func (f *fakeGecko) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v3/simple/price" || r.URL.Query().Get("vs_currencies") != "usd" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	body := map[string]map[string]json.Number{}
	for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
		sym, ok := geckoIDs[id]
		if !ok {
			continue
		}
		base := map[market.Symbol]float64{"BTC-USD": 45000, "ETH-USD": 2500, "SOL-USD": 100}[sym]
		px := fmt.Sprintf("%.2f", base+float64(f.n)/100)
		f.served[sym] = append(f.served[sym], px)
		body[id] = map[string]json.Number{"usd": json.Number(px), "usd_24h_change": "0.5"}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func newFakeGecko(t *testing.T) (*fakeGecko, string) {
	f := &fakeGecko{served: map[market.Symbol][]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeGecko) wasServed(sym market.Symbol, px market.Price) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.served[sym] {
		if p, _ := market.ParsePrice(s); p == px {
			return true
		}
	}
	return false
}

// The arena trades the prices the provider served, and --record writes
// them so the session replays exactly.
func TestArenaOnLivePrices(t *testing.T) {
	gecko, url := newFakeGecko(t)
	rec := filepath.Join(t.TempDir(), "live.csv")
	r := runCmd(t, nil, "arena", "--feed", "live", "--providers", "coingecko", "--coingecko-url", url,
		"--symbols", "BTC-USD,ETH-USD,SOL-USD", "--ticks", "30", "--step-interval", "1ms", "--seed", "1",
		"--record", rec, "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rp, err := feed.OpenReplay([]string{rec}, feed.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	n := 0
	for {
		tk, err := rp.Next(context.Background())
		if err != nil {
			break
		}
		n++
		if !gecko.wasServed(tk.Symbol, tk.Price) {
			t.Errorf("recorded %s at %s, which the provider never served", tk.Symbol, tk.Price)
		}
	}
	if n != 30 {
		t.Errorf("recorded %d ticks, want the 30 taken", n)
	}
	// The recording replays to the same ledger.
	var live, replayed struct {
		Hash string `json:"ledger_hash"`
	}
	json.Unmarshal([]byte(r.stdout), &live)
	r = runCmd(t, nil, "arena", "--feed", "replay", "--replay", rec, "--seed", "1", "--format", "json")
	json.Unmarshal([]byte(r.stdout), &replayed)
	if live.Hash == "" || live.Hash != replayed.Hash {
		t.Errorf("live ledger %q, its replay %q", live.Hash, replayed.Hash)
	}
}

// serve on a live feed: every market event in the log carries a price the
// provider served and the provider's name. (Going offline and recovering,
// which takes a breaker's 30 s, is tested on a fake clock in feed.)
func TestServeOnLivePrices(t *testing.T) {
	gecko, url := newFakeGecko(t)
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--feed", "live", "--providers", "coingecko", "--coingecko-url", url,
		"--symbols", "BTC-USD,ETH-USD,SOL-USD", "--tick-interval", "1ms", "--round-ticks", "30", "--seed", "1")
	s.logs.waitFor(t, "msg=round", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}
	markets := 0
	err := eventlog.Walk(filepath.Join(dir, "events"), func(r eventlog.Record) error {
		if r.Type != "market" {
			return nil
		}
		var e arena.Event
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			return err
		}
		markets++
		if e.Market.Source != "coingecko" || !gecko.wasServed(e.Market.Symbol, e.Market.Price) {
			t.Errorf("seq %d: %s at %s from %q: not what the provider served", e.Seq, e.Market.Symbol, e.Market.Price, e.Market.Source)
		}
		return nil
	})
	if err != nil || markets < 30 {
		t.Fatalf("%d market events, %v", markets, err)
	}
}

func TestLiveFlagsAreChecked(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--providers", "yahoo"}, `unknown provider "yahoo"`},
		{[]string{"--providers", "coinmarketcap"}, "COINMARKETCAP_API_KEY"},
		{[]string{"--providers", "coingecko", "--coingecko-url", "ftp://x"}, "--feed live"},
	} {
		r := runCmd(t, nil, append([]string{"arena", "--feed", "live", "--ticks", "1"}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q", tt.args, r.code, r.stderr)
		}
	}
	if os.Getenv("COINMARKETCAP_API_KEY") != "" {
		t.Log("COINMARKETCAP_API_KEY is set in this environment; runCmd does not pass it on")
	}
}

// Offline: serve starts, says no provider answers, keeps going and stops
// cleanly. (Recovery, 30 s of breaker later, is tested on a fake clock in
// feed's TestLiveOfflineStartRecovers.)
func TestServeStartsOffline(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	s := startServer(t, "--data-dir", t.TempDir(), "--feed", "live", "--providers", "coingecko,coinbase",
		"--coingecko-url", url, "--coinbase-url", url, "--tick-interval", "10ms")
	s.logs.waitFor(t, "no provider answers", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}
}
