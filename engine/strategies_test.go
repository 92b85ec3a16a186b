package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// contrarian goes long after a fall of more than drop from the last price,
// flat after a rise: a user strategy the arena does not know.
var contrarianSpec = arena.StrategySpec{
	Name:     "contrarian",
	Defaults: arena.Params{"drop": 0.0005, "risk": 2},
	Bounds:   map[string][2]float64{"drop": {0, 0.1}, "risk": {0.01, 3}},
	New: func(p arena.Params, nsym int) (arena.Strategy, error) {
		return &contrarian{drop: p["drop"], last: make([]float64, nsym)}, nil
	},
}

type contrarian struct {
	drop float64
	last []float64
}

func (c *contrarian) Decide(in arena.Input) arena.Target {
	prev := c.last[in.Symbol]
	c.last[in.Symbol] = in.Price
	switch {
	case prev > 0 && in.Price < prev*(1-c.drop):
		return arena.Target{Side: arena.Long, Size: 1}
	case prev > 0 && in.Price > prev:
		return arena.Target{Side: arena.Flat}
	}
	return arena.Target{Side: in.Position, Size: 1}
}

// A run founded with a strategy of the caller's is rebuilt by a program
// that registers it, to the same ledger; one that lacks it is refused with
// the strategy named, and the data dir is left as it was.
func TestUserStrategyFoundsAndRebuilds(t *testing.T) {
	dir := t.TempDir()
	roster := []arena.Founder{{Name: "Contra", Strategy: "contrarian"}, {Name: "Momentum", Strategy: "momentum"}}
	cfg := Config{Dir: dir, TickInterval: time.Millisecond, AgentInterval: time.Hour,
		Strategies: []arena.StrategySpec{contrarianSpec},
		Found: func() (Founding, error) {
			return Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 9}, Roster: roster, Feed: "sim"}, nil
		},
	}
	e, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	trades := 0
	e.Subscribe(func(s Step) {
		for _, ev := range s.Events {
			if ev.Trade != nil && ev.Trade.Agent == "Contra" {
				trades++
			}
		}
		if trades >= 3 {
			stop()
		}
	})
	if err := e.Run(ctx, Feed{Source: feed.NewSim(feed.SimConfig{Seed: 9})}); err != nil {
		t.Fatal(err)
	}
	wantHash, wantSeq := e.ar.LedgerHash(), e.ar.NextSeq()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := Open(t.Context(), Config{Dir: dir, Strategies: []arena.StrategySpec{contrarianSpec}})
	if err != nil {
		t.Fatalf("reopen with the strategy registered: %v", err)
	}
	if h, n := again.ar.LedgerHash(), again.ar.NextSeq(); h != wantHash || n != wantSeq {
		t.Errorf("rebuilt run: ledger %v at %d, want %v at %d", h, n, wantHash, wantSeq)
	}
	again.Close()
	if a, err := Verify(t.Context(), dir, contrarianSpec); err != nil || a.Records < wantSeq-1 {
		t.Errorf("Verify with the strategy: %d records, %v; want at least %d", a.Records, err, wantSeq-1)
	}
	if _, err := Verify(t.Context(), dir); !errors.Is(err, ErrStrategyMissing) || !strings.Contains(err.Error(), `"contrarian"`) {
		t.Errorf("Verify without the strategy: %v, want ErrStrategyMissing naming contrarian", err)
	}

	_, err = Open(t.Context(), Config{Dir: dir})
	if !errors.Is(err, ErrStrategyMissing) || !strings.Contains(err.Error(), `"contrarian"`) || !strings.Contains(err.Error(), `"Contra"`) ||
		!strings.Contains(err.Error(), "cli.Options.Strategies") {
		t.Fatalf("reopen without the strategy: %v, want ErrStrategyMissing naming contrarian", err)
	}
	// Refused before anything was rebuilt or written: it opens again.
	e, err = Open(t.Context(), Config{Dir: dir, Strategies: []arena.StrategySpec{contrarianSpec}})
	if err != nil {
		t.Fatalf("reopen after the refusal: %v", err)
	}
	e.Close()
}
