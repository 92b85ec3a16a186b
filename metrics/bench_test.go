package metrics_test

import (
	"net/http/httptest"
	"testing"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/metrics"
)

// BenchmarkScrape serves one full /metrics (Go and process collectors
// included) for an arena of 1,000 living agents, every source present. The
// target is at most 5 ms a scrape; docs/metrics.md has the figures.
func BenchmarkScrape(b *testing.B) {
	syms := []market.Symbol{"BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "DOT-USD"}
	ar, err := arena.New(arena.Config{Symbols: syms, Seed: 1, MaxAgents: 2000}, arena.GenerateRoster(1000, 1), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ar.Close()
	if err := ar.Run(b.Context(), feed.NewSim(feed.SimConfig{Symbols: syms, Seed: 1}), 50*int64(len(syms))); err != nil {
		b.Fatal(err)
	}
	snap := ar.Snapshot()
	if snap.Living < 1000 {
		b.Fatalf("%d living agents, want 1000", snap.Living)
	}
	for _, bc := range []struct {
		name string
		max  int
	}{{"agents=1000/labelled=25", 0}, {"agents=1000/labelled=1000", 1000}} {
		b.Run(bc.name, func(b *testing.B) {
			src := fixture()
			src.Arena = func() *arena.Snapshot { return snap }
			src.MaxAgents = bc.max
			h := metrics.Handler(metrics.NewRegistry(src), nil)
			req := httptest.NewRequest("GET", "/metrics", nil)
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("GET /metrics: %d", rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/scrape")
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
