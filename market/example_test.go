package market_test

import (
	"fmt"

	"github.com/lineage-arena/lineage/market"
)

// A fill of 0.25 BTC at a price read from text: the notional and a 0.1 % fee
// are exact integers of micro-dollars, so the ledger never drifts.
func ExampleNotional() {
	price, err := market.ParsePrice("115000.50")
	if err != nil {
		fmt.Println(err)
		return
	}
	qty := market.Qty(25_000_000) // 0.25 BTC in 1e-8 units
	notional := market.Notional(qty, price)
	fee := notional.Mul(market.Bps(10))
	cash := market.USD(100_000) - notional - fee

	fmt.Println("notional", notional)
	fmt.Println("fee     ", fee)
	fmt.Println("cash    ", cash, "≈", cash.Cents())
	fmt.Println("short   ", market.Notional(-qty, price))
	// Output:
	// notional 28750.125
	// fee      28.750125
	// cash     71221.124875 ≈ 71221.12
	// short    -28750.125
}

func ExampleParsePrice() {
	for _, s := range []string{"115000.50", "0.000000015", "1.5e-8", "0"} {
		p, err := market.ParsePrice(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(int64(p), p)
	}
	// Output:
	// 11500050000000 115000.50
	// 2 0.00000002
	// 2 0.00000002
	// error: price "0": must be positive
}

func ExampleParseSymbols() {
	syms, err := market.ParseSymbols("btc/usd, ETHUSDT, sol_usdc")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range syms {
		fmt.Println(s, s.Base(), s.Quote())
	}
	// Output:
	// BTC-USD BTC USD
	// ETH-USDT ETH USDT
	// SOL-USDC SOL USDC
}
