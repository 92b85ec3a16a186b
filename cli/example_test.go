package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/cli"
)

// hold is a program's own strategy: always long.
var hold = arena.StrategySpec{
	Name: "hold", Defaults: arena.Params{"risk": 1}, Bounds: map[string][2]float64{"risk": {0.1, 2}},
	New: func(arena.Params, int) (arena.Strategy, error) { return always{}, nil },
}

type always struct{}

func (always) Decide(arena.Input) arena.Target { return arena.Target{Side: arena.Long, Size: 1} }

// A program runs the lineage command set with a strategy of its own:
// --agents spreads over it after the built-ins. A real program passes
// os.Args[1:] and exits with the code (see examples/customcli).
func ExampleMain() {
	var out bytes.Buffer
	code := cli.Main(context.Background(), []string{"arena", "--agents", "4", "--seed", "1", "--ticks", "100", "--format", "csv"},
		cli.Options{Strategies: []arena.StrategySpec{hold}, Stdout: &out, Stderr: io.Discard})
	for _, row := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		f := strings.Split(row, ",")
		fmt.Println(f[1], f[2]) // agent, strategy
	}
	fmt.Println("exit", code)
	// Unordered output:
	// Momentum-1 momentum
	// Conservative-1 conservative
	// Balanced-1 balanced
	// Hold-1 hold
	// exit 0
}
