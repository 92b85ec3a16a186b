// Package feed provides price sources for the arena: a seeded simulation
// (NewSim), a replay of recorded CSV prices (OpenReplay), and live prices
// from public HTTP providers (NewLive: CoinGecko, CoinDesk, CoinMarketCap,
// Coinbase Exchange, each behind a TTL cache, a circuit breaker, retries and
// a rate limiter, with ordered fallback per symbol). A Recorder writes the
// ticks of any source as replay CSV, so a live session replays exactly. All
// of them implement Source, the one interface the arena consumes.
//
// The package imports only the standard library and market. Sources are
// owned by one goroutine, which calls Next; none starts goroutines of its
// own. Live.Stats is the exception meant for other goroutines: it is safe
// for concurrent use, for metrics.
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
