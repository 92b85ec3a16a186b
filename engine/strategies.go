package engine

import (
	"fmt"
	"slices"

	"github.com/lineage-arena/lineage/arena"
)

// ErrStrategyMissing is returned by Open for a data dir whose run names a
// strategy that is neither built in nor in Config.Strategies: the program
// that reopens a run must register every strategy the program that founded
// it did.
var ErrStrategyMissing = fmt.Errorf("%w missing", arena.ErrStrategy)

// arenaConfig is the arena configuration of the run g records, with the
// caller's strategies; a founder whose strategy is missing is refused,
// named, before anything is rebuilt.
func (c Config) arenaConfig(g Genesis) (arena.Config, error) {
	known := append(arena.Builtin(), c.Strategies...)
	for _, f := range g.Roster {
		if !slices.ContainsFunc(known, func(s arena.StrategySpec) bool { return s.Name == f.Strategy }) {
			return arena.Config{}, fmt.Errorf("%w: the run in %s has founder %q trading strategy %q, which this program does not register"+
				" (a program registers its strategies in engine.Config.Strategies, or cli.Options.Strategies for the lineage commands)",
				ErrStrategyMissing, c.Dir, f.Name, f.Strategy)
		}
	}
	ac := g.Config()
	ac.Strategies = c.Strategies
	return ac, nil
}

// newArena founds the arena of the run g records, with the caller's
// strategies, its events to s: the start of a rebuild.
func (c Config) newArena(g Genesis, s arena.Sink) (*arena.Arena, error) {
	ac, err := c.arenaConfig(g)
	if err != nil {
		return nil, err
	}
	return arena.New(ac, g.Roster, s)
}
