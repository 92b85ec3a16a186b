package arena

import (
	"context"
	"testing"

	"github.com/lineage-arena/lineage/market"
)

// preTicks materialises n ticks so the benchmark measures the arena alone.
func preTicks(b *testing.B, n int) []market.Tick {
	b.Helper()
	w := newWalk(42, n)
	out := make([]market.Tick, 0, n)
	for {
		tk, err := w.Next(context.Background())
		if err != nil {
			return out
		}
		out = append(out, tk)
	}
}

// BenchmarkArena measures agent-ticks per second: 1,000 agents over the
// three built-in strategies, one tick per op per agent.
func BenchmarkArena(b *testing.B) {
	const agents = 1000
	ticks := preTicks(b, 30000)
	cfg := Config{Seed: 42, MaxAgents: agents}
	var ar *Arena
	reset := func() {
		if ar != nil {
			ar.Close()
		}
		var err error
		ar, err = New(cfg, GenerateRoster(agents, 42), nil)
		if err != nil {
			b.Fatal(err)
		}
		ar.cfg.Symbols = cfg.Symbols
	}
	cfg.Symbols = []market.Symbol{"BTC-USD", "ETH-USD", "SOL-USD"}
	reset()
	var agentTicks int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(ticks) == 0 && i > 0 {
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		agentTicks += int64(ar.Living())
		if err := ar.Step(ticks[i%len(ticks)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(agentTicks)/b.Elapsed().Seconds(), "agent-ticks/s")
	ar.Close()
}
