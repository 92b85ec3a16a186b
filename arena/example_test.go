package arena_test

import (
	"context"
	"fmt"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// Run the founding roster over 20,000 simulated ticks and print the
// leaderboard's head. The same seed always prints the same lines.
func ExampleNew() {
	syms := []market.Symbol{"BTC-USD", "ETH-USD"}
	ar, err := arena.New(arena.Config{Symbols: syms, Seed: 42}, arena.DefaultRoster(), nil)
	if err != nil {
		panic(err)
	}
	defer ar.Close()
	src := feed.NewSim(feed.SimConfig{Symbols: syms, Seed: 42})
	if err := ar.Run(context.Background(), src, 20_000); err != nil {
		panic(err)
	}
	for _, s := range ar.Leaderboard()[:4] {
		fmt.Printf("%d %-12s gen %d  equity %10s  trades %d  scars %d  %s\n",
			s.Rank, s.ID, s.Generation, s.Capital.Cents(), s.Trades, s.Scars, s.Status)
	}
	fmt.Println("rounds:", len(ar.Winners()))
	// Output:
	// 1 Momentum     gen 0  equity  104362.98  trades 48  scars 0  active
	// 2 Balanced.1   gen 1  equity   10677.99  trades 49  scars 0  active
	// 3 Balanced     gen 0  equity   32338.95  trades 61  scars 0  active
	// 4 Balanced.1.1 gen 2  equity    6433.07  trades 29  scars 0  active
	// rounds: 20
}

// A strategy of your own: buy when the price is below a fixed level, sell
// above it. Register it through Config.Strategies and name it in a roster.
func ExampleStrategySpec() {
	level := arena.StrategySpec{
		Name:     "level",
		Doc:      "long below the level, flat above it",
		Defaults: arena.Params{"level": 45000, "risk": 0.5},
		Bounds:   map[string][2]float64{"level": {0, 1e9}, "risk": {0.01, 3}},
		New: func(p arena.Params, nsym int) (arena.Strategy, error) {
			return levelStrategy(p["level"]), nil
		},
	}
	cfg := arena.Config{Symbols: []market.Symbol{"BTC-USD"}, Seed: 1, Strategies: []arena.StrategySpec{level}}
	roster := []arena.Founder{{Name: "Leveller", Strategy: "level", Capital: market.USD(10_000)}}
	ar, err := arena.New(cfg, roster, nil)
	if err != nil {
		panic(err)
	}
	defer ar.Close()
	src := feed.NewSim(feed.SimConfig{Symbols: cfg.Symbols, Seed: 1})
	if err := ar.Run(context.Background(), src, 5_000); err != nil {
		panic(err)
	}
	st, _ := ar.Agent("Leveller")
	fmt.Printf("%s: %d trades, status %s\n", st.ID, st.Trades, st.Status)
	// Output: Leveller: 1 trades, status resting
}

type levelStrategy float64

func (l levelStrategy) Decide(in arena.Input) arena.Target {
	if in.Price < float64(l) {
		return arena.Target{Side: arena.Long, Size: 1}
	}
	return arena.Target{Side: arena.Flat}
}
