package engine_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// A run founded in a fresh data dir, stepped over the simulated feed and
// stopped after three committed steps. The clock is fixed, so the output
// is the same on every machine.
func Example() {
	dir, err := os.MkdirTemp("", "lineage-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	syms := []market.Symbol{"BTC-USD", "ETH-USD"}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := engine.Open(context.Background(), engine.Config{
		Dir: dir,
		Found: func() (engine.Founding, error) {
			return engine.Founding{Arena: arena.Config{Symbols: syms, Seed: 42}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
		},
		TickInterval:  time.Millisecond,
		AgentInterval: time.Hour,
		Clock: func() time.Time {
			clock = clock.Add(5 * time.Second)
			return clock
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	ctx, stop := context.WithCancel(context.Background())
	steps := 0
	e.Subscribe(func(s engine.Step) {
		if steps++; steps > 3 {
			return
		}
		first, last := s.Events[0], s.Events[len(s.Events)-1]
		fmt.Printf("step %d: events %d-%d, durable; %d agents alive\n", steps, first.Seq, last.Seq, s.Snapshot.Living)
		if steps == 3 {
			stop()
		}
	})
	src := feed.NewSim(feed.SimConfig{Symbols: syms, Seed: 42})
	if err := e.Run(ctx, engine.Feed{Source: src}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("seed", e.Genesis().Seed, "feed", e.Genesis().Feed)
	// Output:
	// step 1: events 1-2, durable; 3 agents alive
	// step 2: events 3-4, durable; 3 agents alive
	// step 3: events 5-6, durable; 3 agents alive
	// seed 42 feed sim
}
