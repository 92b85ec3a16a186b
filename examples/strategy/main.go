// Strategy serves a strategy of its own under Lineage's permanent
// consequences, with the full stack of `lineage serve`: the durable event
// log and graveyard in ./strategy-data, the WebSocket hub, the dashboard
// and the JSON API on 127.0.0.1:9001, the metrics on 127.0.0.1:9184.
//
//	go run ./examples/strategy
//
// Restarted on the same data dir it rebuilds the run and carries on: the
// breakout strategy must be registered again, under the same name.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/server"
)

// breakout goes long when the price closes above the highest of the last
// n prices, and back to flat below the lowest of them: a Donchian channel.
var breakout = arena.StrategySpec{
	Name:     "breakout",
	Doc:      "Long above the n-tick high, flat below the n-tick low.",
	Defaults: arena.Params{"n": 20, "risk": 0.5},
	Bounds:   map[string][2]float64{"n": {2, 500}, "risk": {0.01, 3}},
	Integers: []string{"n"},
	New: func(p arena.Params, nsym int) (arena.Strategy, error) {
		return &channel{n: int(p["n"]), seen: make([][]float64, nsym)}, nil
	},
}

type channel struct {
	n    int
	seen [][]float64 // per symbol, the last n prices
}

func (c *channel) Decide(in arena.Input) arena.Target {
	window := c.seen[in.Symbol]
	hi, lo := in.Price, in.Price
	for _, p := range window {
		hi, lo = max(hi, p), min(lo, p)
	}
	c.seen[in.Symbol] = append(window[len(window)-min(len(window), c.n-1):], in.Price)
	switch {
	case len(window) < c.n-1:
		return arena.Target{Side: arena.Flat} // warming up
	case in.Price >= hi:
		return arena.Target{Side: arena.Long, Size: 1}
	case in.Price <= lo:
		return arena.Target{Side: arena.Flat}
	}
	return arena.Target{Side: in.Position, Size: 1}
}

// options are what a test changes.
type options struct {
	dir, wsAddr, metricsAddr string
	tick                     time.Duration
	started                  func(*server.Server) // told once serving
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := options{dir: "strategy-data", wsAddr: "127.0.0.1:9001", metricsAddr: "127.0.0.1:9184", tick: time.Second}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "strategy:", err)
		os.Exit(1)
	}
}

// run serves the arena until ctx is done.
func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := server.Listen(server.Config{WSAddr: o.wsAddr, MetricsAddr: o.metricsAddr, TickInterval: o.tick, Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	e, err := engine.Open(ctx, engine.Config{
		Dir: o.dir, TickInterval: o.tick, Logger: log,
		Strategies: []arena.StrategySpec{breakout},
		Found: func() (engine.Founding, error) {
			roster := append(arena.DefaultRoster(), arena.Founder{Name: "Breakout", Strategy: "breakout"},
				arena.Founder{Name: "Breakout-Fast", Strategy: "breakout", Params: arena.Params{"n": 5}})
			return engine.Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 1}, Roster: roster, Feed: "sim"}, nil
		},
	})
	if err != nil {
		return err
	}
	defer e.Close()
	if err := srv.Start(e); err != nil {
		return err
	}
	if o.started != nil {
		o.started(srv)
	}
	// The sim is deterministic from the seed: a restart fast-forwards it.
	err = e.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Seed: e.Genesis().Seed, Symbols: e.Genesis().Symbols})})
	shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return errors.Join(err, srv.Close(shutdown), e.Close())
}
