package arena

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// walk is a seeded random-walk tick source for tests: one tick per symbol
// per step, with volatility that switches between calm and wild so agents
// trade, scar and die.
type walk struct {
	syms   []market.Symbol
	px     []float64
	rng    *rand.Rand
	step   int
	i      int
	limit  int
	start  time.Time
	wild   bool
	paused int
}

func newWalk(seed uint64, limit int) *walk {
	syms := []market.Symbol{"BTC-USD", "ETH-USD", "SOL-USD"}
	return &walk{
		syms: syms, px: []float64{45000, 2500, 100}, rng: rand.New(rand.NewPCG(seed, 7)),
		limit: limit, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func (w *walk) Next(ctx context.Context) (market.Tick, error) {
	if w.limit > 0 && w.step*len(w.syms)+w.i >= w.limit {
		return market.Tick{}, io.EOF
	}
	if w.i == 0 && w.rng.IntN(500) == 0 {
		w.wild = !w.wild
	}
	vol := 0.002
	if w.wild {
		vol = 0.012
	}
	r := float64(vol * (w.rng.Float64() + w.rng.Float64() + w.rng.Float64() - 1.5))
	w.px[w.i] *= 1 + r
	tk := market.Tick{Symbol: w.syms[w.i], Price: market.PriceFromFloat(w.px[w.i]),
		Time: w.start.Add(time.Duration(w.step) * 5 * time.Second), Source: "test"}
	w.i++
	if w.i == len(w.syms) {
		w.i, w.step = 0, w.step+1
	}
	return tk, nil
}

// collect is a Sink that keeps every event.
type collect struct{ events []Event }

func (c *collect) Emit(e Event) error {
	c.events = append(c.events, e)
	return nil
}

func mustArena(t testing.TB, cfg Config, roster []Founder, sink Sink) *Arena {
	t.Helper()
	if cfg.Symbols == nil {
		cfg.Symbols = []market.Symbol{"BTC-USD", "ETH-USD", "SOL-USD"}
	}
	ar, err := New(cfg, roster, sink)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ar.Close() })
	return ar
}

func mustRun(t testing.TB, ar *Arena, src TickSource, limit int64) {
	t.Helper()
	if err := ar.Run(context.Background(), src, limit); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
