package engine

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lineage-arena/lineage/arena"

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

// A tick and agent states that fall due together are one step: one
// commit, handed to subscribers (and so to clients) as one batch, not two
// back to back. In a synctest bubble both timers fire at the same instant.
func TestTickAndAgentStatesDueTogetherAreOneStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Dir: t.TempDir(), Found: simFounding(3), TickInterval: time.Second, AgentInterval: 2 * time.Second}
		e, err := Open(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		ctx, cancel := context.WithCancel(t.Context())
		var priceSteps, joined, statesAlone int
		e.Subscribe(func(s Step) {
			prices, states := 0, 0
			for _, ev := range s.Events {
				switch ev.Type {
				case arena.EventMarket:
					prices++
				case arena.EventAgent:
					states++
				}
			}
			switch {
			case prices > 0 && states > 0:
				joined++
			case states > 0:
				statesAlone++
			}
			if prices > 0 {
				priceSteps++
			}
			if priceSteps == 9 { // the first is released at once, then one a second
				cancel()
			}
		})
		if err := e.Run(ctx, simFeed(3)); err != nil {
			t.Fatal(err)
		}
		if joined != 4 || statesAlone != 0 {
			t.Errorf("in 8 s: %d steps of prices with agent states, %d of agent states alone; want 4 and 0", joined, statesAlone)
		}
	})
}
