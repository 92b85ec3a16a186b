package arena_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// benchTicks materialises n simulated ticks so the benchmark measures the
// arena alone.
func benchTicks(b *testing.B, n int) []market.Tick {
	b.Helper()
	src := feed.NewSim(feed.SimConfig{Seed: 42})
	out := make([]market.Tick, n)
	for i := range out {
		tk, err := src.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		out[i] = tk
	}
	return out
}

// BenchmarkArena measures agent-ticks per second — for every tick, the
// agents alive to take it — with 1,000 founders spread over the three
// built-in strategies on the five default symbols of the simulated feed.
// Sub-benchmarks pin the number of workers so one run compares them.
// Target: ≥ 20 million agent-ticks/s on 2 cores.
func BenchmarkArena(b *testing.B) {
	const agents, feedLen = 1000, 100_000
	ticks := benchTicks(b, feedLen)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			cfg := arena.Config{Symbols: market.DefaultSymbols, Seed: 42, Workers: workers}
			var ar *arena.Arena
			var agentTicks int64
			fresh := func() {
				if ar != nil {
					agentTicks += ar.AgentTicks()
					ar.Close()
				}
				var err error
				if ar, err = arena.New(cfg, arena.GenerateRoster(agents, 42), nil); err != nil {
					b.Fatal(err)
				}
			}
			fresh()
			b.ResetTimer()
			for i := range b.N {
				if i > 0 && i%feedLen == 0 {
					b.StopTimer()
					fresh()
					b.StartTimer()
				}
				if err := ar.Step(ticks[i%feedLen]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			agentTicks += ar.AgentTicks()
			ar.Close()
			b.ReportMetric(float64(agentTicks)/b.Elapsed().Seconds(), "agent-ticks/s")
			b.ReportMetric(float64(agentTicks)/float64(b.N), "agents/tick")
		})
	}
}
