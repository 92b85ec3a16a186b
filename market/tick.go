package market

import "time"

// Tick is one observed price of one symbol: the unit the arena advances by.
// A feed emits ticks in non-decreasing Time order; several symbols may share
// a timestamp.
type Tick struct {
	Symbol Symbol
	Price  Price
	Time   time.Time
	// Source names where the price came from: "sim", "replay" or a live
	// provider such as "coingecko".
	Source string
	// Stale is set when the price is older than its source's freshness
	// window and is served only so the market is not blank.
	Stale bool
}
