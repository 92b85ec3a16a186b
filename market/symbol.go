// Package market is Lineage's price vocabulary: symbols, exact money, prices,
// quantities and ticks. It holds pure values and imports only the standard
// library.
package market

import (
	"errors"
	"fmt"
	"strings"
)

// Symbol is a canonical trading pair written BASE-QUOTE in upper case, such
// as "BTC-USD". Build one with ParseSymbol; the zero value is invalid.
type Symbol string

// DefaultSymbols are the pairs Lineage trades when none are configured.
var DefaultSymbols = []Symbol{"BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "DOT-USD"}

// ErrSymbol reports a string that is not a trading pair.
var ErrSymbol = errors.New("invalid symbol")

// knownQuotes are quote currencies recognised in concatenated pair names such
// as "BTCUSDT", longest first so that USDT wins over USD.
var knownQuotes = []string{"USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR", "GBP", "JPY", "BTC", "ETH", "BNB"}

// ParseSymbol canonicalises s into a Symbol. It accepts BASE-QUOTE,
// BASE/QUOTE and BASE_QUOTE in any case ("btc/usd" → "BTC-USD"), and a
// concatenated exchange pair such as "BTCUSDT" when its quote currency is a
// common one. Each side must be 1–12 letters or digits.
func ParseSymbol(s string) (Symbol, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	base, quote, ok := cutAny(t, "-/_")
	if !ok {
		for _, q := range knownQuotes {
			if len(t) > len(q) && strings.HasSuffix(t, q) {
				base, quote, ok = t[:len(t)-len(q)], q, true
				break
			}
		}
	}
	if !ok || !validPart(base) || !validPart(quote) {
		return "", fmt.Errorf("%w %q: want BASE-QUOTE such as BTC-USD", ErrSymbol, s)
	}
	return Symbol(base + "-" + quote), nil
}

// ParseSymbols parses a comma-separated list of symbols, rejecting
// duplicates and empty lists.
func ParseSymbols(list string) ([]Symbol, error) {
	var out []Symbol
	seen := map[Symbol]bool{}
	for part := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		sym, err := ParseSymbol(part)
		if err != nil {
			return nil, err
		}
		if seen[sym] {
			return nil, fmt.Errorf("%w: %s listed twice", ErrSymbol, sym)
		}
		seen[sym] = true
		out = append(out, sym)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty symbol list", ErrSymbol)
	}
	return out, nil
}

// Base returns the part before the dash ("BTC" for "BTC-USD").
func (s Symbol) Base() string {
	base, _, _ := strings.Cut(string(s), "-")
	return base
}

// Quote returns the part after the dash ("USD" for "BTC-USD").
func (s Symbol) Quote() string {
	_, quote, _ := strings.Cut(string(s), "-")
	return quote
}

func (s Symbol) String() string { return string(s) }

func cutAny(s, seps string) (before, after string, found bool) {
	if i := strings.IndexAny(s, seps); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func validPart(p string) bool {
	if len(p) == 0 || len(p) > 12 {
		return false
	}
	for _, r := range p {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
