package feed_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

func ExampleNewSim() {
	sim := feed.NewSim(feed.SimConfig{
		Symbols: []market.Symbol{"BTC-USD", "ETH-USD"},
		Seed:    42,
	})
	for range 6 {
		tick, err := sim.Next(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tick.Time.Format(time.TimeOnly), tick.Symbol, tick.Price, tick.Source)
	}
	// Output:
	// 00:00:00 BTC-USD 45000.00 sim
	// 00:00:00 ETH-USD 2500.00 sim
	// 00:00:05 BTC-USD 44958.45358779 sim
	// 00:00:05 ETH-USD 2504.07407697 sim
	// 00:00:10 BTC-USD 44963.48215317 sim
	// 00:00:10 ETH-USD 2501.89780762 sim
}

func ExampleOpenReplay() {
	replay, err := feed.OpenReplay([]string{"testdata/BTCUSDT-1m-2024-01.csv"}, feed.ReplayConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer replay.Close()
	fmt.Println(replay.Symbols())
	for {
		tick, err := replay.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tick.Time.Format(time.RFC3339), tick.Symbol, tick.Price)
	}
	// Output:
	// [BTC-USDT]
	// 2024-01-01T00:01:00Z BTC-USDT 42298.61
	// 2024-01-01T00:02:00Z BTC-USDT 42319.99
	// 2024-01-01T00:03:00Z BTC-USDT 42307.53
}
