package arena_test

import (
	"testing"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// BenchmarkSnapshot measures the picture a server publishes after every
// commit, with 1,000 agents that have traded for a while.
func BenchmarkSnapshot(b *testing.B) {
	ticks := benchTicks(b, 20_000)
	ar, err := arena.New(arena.Config{Symbols: market.DefaultSymbols, Seed: 42}, arena.GenerateRoster(1000, 42), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ar.Close()
	for _, tk := range ticks {
		ar.Step(tk)
	}
	b.ResetTimer()
	for range b.N {
		ar.Snapshot()
	}
	b.ReportMetric(float64(ar.Living()), "living")
}
