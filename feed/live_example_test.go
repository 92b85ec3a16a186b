package feed_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// A live feed over CoinGecko, here a local stand-in serving the documented
// answer; the second provider, Coinbase, is asked only for what CoinGecko
// lacks (DOT-USD).
func ExampleNewLive() {
	coingecko := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"bitcoin":{"usd":45000.1,"usd_24h_change":1.2},"solana":{"usd":98.765,"usd_24h_change":-0.4}}`)
	}))
	defer coingecko.Close()
	coinbase := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"trade_id":1,"price":"6.788","size":"1","time":"2026-01-01T00:00:00Z"}`)
	}))
	defer coinbase.Close()

	live, err := feed.NewLive(feed.LiveConfig{
		Symbols: []market.Symbol{"BTC-USD", "SOL-USD", "DOT-USD"},
		Providers: []feed.ProviderConfig{
			{Name: "coingecko", BaseURL: coingecko.URL}, // APIKey: os.Getenv("COINGECKO_API_KEY") in main
			{Name: "coinbase", BaseURL: coinbase.URL},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer live.Close()
	for range 3 {
		tick, err := live.Next(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tick.Symbol, tick.Price, tick.Source, tick.Stale)
	}
	stats := live.Stats()
	fmt.Printf("requests %d, success %.0f %%, cache hits %.0f %%\n",
		stats.Providers[0].Requests+stats.Providers[1].Requests, stats.RequestSuccessRate(), stats.CacheHitRate())
	// Output:
	// BTC-USD 45000.10 coingecko false
	// SOL-USD 98.765 coingecko false
	// DOT-USD 6.788 coinbase false
	// requests 2, success 100 %, cache hits 0 %
}
