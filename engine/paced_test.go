package engine

import (
	"testing"
	"time"

	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// The pacer releases a sim step's ticks together, stamped alike, and says
// which tick ends the step, so serve commits and publishes a step at once.
func TestPacedMarksStepEnds(t *testing.T) {
	syms := []market.Symbol{"BTC-USD", "ETH-USD", "SOL-USD"}
	sim := feed.NewSim(feed.SimConfig{Symbols: syms, Seed: 7})
	clock := time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC)
	p := &paced{src: sim, every: time.NewTicker(time.Millisecond), clock: func() time.Time {
		clock = clock.Add(time.Second)
		return clock
	}}
	defer p.every.Stop()
	var stamps []time.Time
	for i := range 3 * len(syms) {
		tk, err := p.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := syms[i%len(syms)]; tk.Symbol != want {
			t.Fatalf("tick %d is %s, want %s", i, tk.Symbol, want)
		}
		if last := i%len(syms) == len(syms)-1; p.more == last {
			t.Errorf("tick %d (%s): more=%v, want %v", i, tk.Symbol, p.more, !last)
		}
		if i%len(syms) == 0 {
			stamps = append(stamps, tk.Time)
		} else if !tk.Time.Equal(stamps[len(stamps)-1]) {
			t.Errorf("tick %d stamped %s, its step %s", i, tk.Time, stamps[len(stamps)-1])
		}
	}
	if !stamps[0].Before(stamps[1]) || !stamps[1].Before(stamps[2]) {
		t.Errorf("steps stamped %v: want one stamp per step, in order", stamps)
	}
}
