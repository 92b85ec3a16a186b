package feed

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// fallback asks cached providers in order and merges their answers per
// symbol: every symbol takes the first provider with a fresh price, and
// only the symbols still missing are asked of the next. A symbol no
// provider has fresh takes the most recently fetched stale price any
// provider still holds (ties to the earlier provider), marked stale; a
// symbol with neither gets nothing, and the reason says why.
type fallback struct {
	chain []*cache
}

// pick is the price a round chose for a symbol.
type pick struct {
	price  market.Price
	source string
	stale  bool
}

// roundResult is what one pass over the chain found.
type roundResult struct {
	picks   map[market.Symbol]pick
	fresh   int                      // symbols with a fresh price
	missing map[market.Symbol]string // why a symbol has no pick, per provider
	errs    []error                  // each failed provider call, in order
}

// round fetches syms through the chain. It stops early when ctx is done;
// the result is then incomplete and the caller discards it.
func (f *fallback) round(ctx context.Context, syms []market.Symbol) roundResult {
	res := roundResult{picks: make(map[market.Symbol]pick, len(syms)), missing: map[market.Symbol]string{}}
	why := make(map[market.Symbol][]string, len(syms))
	remaining := slices.Clone(syms)
	for _, c := range f.chain {
		if len(remaining) == 0 || ctx.Err() != nil {
			break
		}
		prices, err := c.fresh(ctx, remaining)
		if err != nil && ctx.Err() == nil {
			res.errs = append(res.errs, err)
		}
		rest := remaining[:0]
		for _, sym := range remaining {
			if p, ok := prices[sym]; ok {
				res.picks[sym] = pick{price: p, source: c.name()}
				res.fresh++
				continue
			}
			rest = append(rest, sym)
			note := "not covered"
			if r := reasonOf(err); r != "" {
				note = string(r)
			}
			why[sym] = append(why[sym], c.name()+": "+note)
		}
		remaining = rest
	}
	for _, sym := range remaining {
		var best *cache
		var bestPrice market.Price
		var bestAt time.Time
		for _, c := range f.chain {
			if p, at, ok := c.stale(sym); ok && (best == nil || at.After(bestAt)) {
				best, bestPrice, bestAt = c, p, at
			}
		}
		if best != nil {
			res.picks[sym] = pick{price: bestPrice, source: best.name(), stale: true}
			best.stats.staleServed()
			continue
		}
		res.missing[sym] = "no fresh or recent price: " + strings.Join(why[sym], "; ")
	}
	return res
}
