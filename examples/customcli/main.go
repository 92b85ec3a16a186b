// Customcli is the whole lineage command set with a strategy of its own,
// "dip": its roster files may name it, --agents spreads over it, and serve,
// verify and graveyard keep and check its runs.
//
//	go run ./examples/customcli arena --agents 8
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/cli"
)

// dip goes long after a fall from the last price and flat after a rise.
var dip = arena.StrategySpec{
	Name: "dip", Doc: "Long after a fall, flat after a rise.",
	Defaults: arena.Params{"risk": 1}, Bounds: map[string][2]float64{"risk": {0.1, 3}},
	New: func(_ arena.Params, nsym int) (arena.Strategy, error) { return lastPrices(make([]float64, nsym)), nil },
}

type lastPrices []float64 // by symbol

func (last lastPrices) Decide(in arena.Input) arena.Target {
	fell := in.Price < last[in.Symbol]
	last[in.Symbol] = in.Price
	if fell {
		return arena.Target{Side: arena.Long, Size: 1}
	}
	return arena.Target{Side: arena.Flat}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Options{Strategies: []arena.StrategySpec{dip}})
	stop()
	os.Exit(code)
}
