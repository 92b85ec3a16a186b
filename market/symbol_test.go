package market_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/market"
)

func TestParseSymbol(t *testing.T) {
	tests := []struct {
		in   string
		want market.Symbol
	}{
		{"BTC-USD", "BTC-USD"},
		{"btc/usd", "BTC-USD"},
		{"eth_usdt", "ETH-USDT"},
		{"Sol-Usd", "SOL-USD"},
		{"  ada-usd\t", "ADA-USD"},
		{"1INCH-USD", "1INCH-USD"},
		{"ABCDEFGHIJKL-USD", "ABCDEFGHIJKL-USD"}, // 12 characters is the limit
		{"BTC-ABCDEFGHIJKL", "BTC-ABCDEFGHIJKL"},
		{"X-Y", "X-Y"},
		// Concatenated exchange pairs.
		{"BTCUSDT", "BTC-USDT"}, // USDT wins over USD
		{"ETHUSDC", "ETH-USDC"},
		{"btcusd", "BTC-USD"},
		{"BTCBUSD", "BTC-BUSD"},   // BUSD wins over USD
		{"BTCFDUSD", "BTC-FDUSD"}, // FDUSD wins over USD
		{"ETHBTC", "ETH-BTC"},
		{"BTCEUR", "BTC-EUR"},
		{"WBTCUSDT", "WBTC-USDT"},
		{"USDTUSD", "USDT-USD"},
	}
	for _, tt := range tests {
		got, err := market.ParseSymbol(tt.in)
		if err != nil {
			t.Errorf("ParseSymbol(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseSymbol(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSymbolInvalid(t *testing.T) {
	invalid := []string{
		"", " ", "-", "/", "BTC", "USD", "USDT", "BTCXYZ",
		"-USD", "BTC-", "BTC/", "_USD",
		"BTC-USD-EUR", "BTC--USD", "BTC/USD/EUR",
		"BTC USD", "BTC - USD", "BTC.USD", "BTC:USD", "BTC-US$", "BT€-USD", "btc-usd!",
		"ABCDEFGHIJKLM-USD", "BTC-ABCDEFGHIJKLM", // 13 characters
	}
	for _, s := range invalid {
		got, err := market.ParseSymbol(s)
		if err == nil {
			t.Errorf("ParseSymbol(%q) = %q, want an error", s, got)
			continue
		}
		if !errors.Is(err, market.ErrSymbol) {
			t.Errorf("ParseSymbol(%q) error %v, want one wrapping ErrSymbol", s, err)
		}
		if got != "" {
			t.Errorf("ParseSymbol(%q) = %q with an error, want the zero Symbol", s, got)
		}
	}
}

func TestParseSymbols(t *testing.T) {
	tests := []struct {
		in   string
		want []market.Symbol
	}{
		{"BTC-USD", []market.Symbol{"BTC-USD"}},
		{"BTC-USD,eth/usd", []market.Symbol{"BTC-USD", "ETH-USD"}},
		{" BTCUSDT , , ethusdc ", []market.Symbol{"BTC-USDT", "ETH-USDC"}},
		{"sol_usd,", []market.Symbol{"SOL-USD"}},
		{",ada-usd,dot-usd", []market.Symbol{"ADA-USD", "DOT-USD"}},
		{"ETH-USD,BTC-USD", []market.Symbol{"ETH-USD", "BTC-USD"}}, // order kept
	}
	for _, tt := range tests {
		got, err := market.ParseSymbols(tt.in)
		if err != nil {
			t.Errorf("ParseSymbols(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseSymbols(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSymbolsInvalid(t *testing.T) {
	tests := []struct {
		in      string
		mention string // a fragment the error must carry
	}{
		{"", "empty"},
		{" ", "empty"},
		{",, ,", "empty"},
		{"BTC-USD,btc/usd", "BTC-USD listed twice"},
		{"BTCUSDT,btc-usdt", "BTC-USDT listed twice"},
		{"BTC-USD,nope", `"nope"`},
		{"BTC-USD;ETH-USD", `"BTC-USD;ETH-USD"`},
	}
	for _, tt := range tests {
		got, err := market.ParseSymbols(tt.in)
		if err == nil {
			t.Errorf("ParseSymbols(%q) = %q, want an error", tt.in, got)
			continue
		}
		if !errors.Is(err, market.ErrSymbol) {
			t.Errorf("ParseSymbols(%q) error %v, want one wrapping ErrSymbol", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ParseSymbols(%q) error %q, want it to mention %s", tt.in, err, tt.mention)
		}
		if got != nil {
			t.Errorf("ParseSymbols(%q) = %q with an error, want nil", tt.in, got)
		}
	}
}

func TestSymbolParts(t *testing.T) {
	tests := []struct {
		s                 market.Symbol
		base, quote, text string
	}{
		{"BTC-USD", "BTC", "USD", "BTC-USD"},
		{"ETH-USDT", "ETH", "USDT", "ETH-USDT"},
		{"1INCH-USD", "1INCH", "USD", "1INCH-USD"},
		{"", "", "", ""}, // the invalid zero value does not panic
	}
	for _, tt := range tests {
		if got := tt.s.Base(); got != tt.base {
			t.Errorf("Symbol(%q).Base() = %q, want %q", tt.s, got, tt.base)
		}
		if got := tt.s.Quote(); got != tt.quote {
			t.Errorf("Symbol(%q).Quote() = %q, want %q", tt.s, got, tt.quote)
		}
		if got := tt.s.String(); got != tt.text {
			t.Errorf("Symbol(%q).String() = %q, want %q", tt.s, got, tt.text)
		}
	}
}

// TestParseSymbolCanonical checks that parsing is idempotent and that every
// default symbol is already canonical.
func TestParseSymbolCanonical(t *testing.T) {
	for _, s := range market.DefaultSymbols {
		got, err := market.ParseSymbol(string(s))
		if err != nil || got != s {
			t.Errorf("ParseSymbol(%q) = %q, %v; want it unchanged", s, got, err)
		}
		for _, spelling := range []string{
			strings.ToLower(string(s)),
			strings.ReplaceAll(string(s), "-", "/"),
			strings.ReplaceAll(string(s), "-", "_"),
			s.Base() + s.Quote(),
		} {
			if got, err := market.ParseSymbol(spelling); err != nil || got != s {
				t.Errorf("ParseSymbol(%q) = %q, %v; want %q", spelling, got, err, s)
			}
		}
	}
}
