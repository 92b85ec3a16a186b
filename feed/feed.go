// Package feed provides price sources for the arena: a seeded simulation
// (NewSim) and a replay of recorded CSV prices (OpenReplay). Both implement
// Source, the one interface the arena consumes.
//
// The package imports only the standard library and market. Sources are
// values owned by one goroutine: none of them is safe for concurrent use,
// and none starts goroutines of its own.
package feed

import (
	"context"

	"github.com/lineage-arena/lineage/market"
)

// Source yields ticks in non-decreasing time order.
//
// Implementations need not be safe for concurrent use: one goroutine owns a
// Source and calls Next in a loop. Next returns ctx.Err() when ctx is done
// before a tick is produced.
type Source interface {
	// Next returns the next tick, or io.EOF when the source is exhausted.
	Next(ctx context.Context) (market.Tick, error)
}
