package feed_test

import (
	"context"
	"fmt"
	"os"

	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// Recording a feed writes what OpenReplay reads back.
func ExampleNewRecorder() {
	sim := feed.NewSim(feed.SimConfig{Symbols: []market.Symbol{"BTC-USD", "ETH-USD"}, Seed: 42})
	rec := feed.NewRecorder(os.Stdout, sim) // a file in practice
	for range 4 {
		if _, err := rec.Next(context.Background()); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Output:
	// timestamp,symbol,price
	// 2026-01-01T00:00:00Z,BTC-USD,45000.00
	// 2026-01-01T00:00:00Z,ETH-USD,2500.00
	// 2026-01-01T00:00:05Z,BTC-USD,44958.45358779
	// 2026-01-01T00:00:05Z,ETH-USD,2504.07407697
}
