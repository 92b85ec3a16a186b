package feed

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/lineage-arena/lineage/market"
)

// coinGeckoIDs maps base currencies to CoinGecko coin ids
// (GET /api/v3/coins/list). Only ids checked by hand are listed: a wrong id
// would be a wrong price, so an unlisted base is simply not covered.
var coinGeckoIDs = map[string]string{
	"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana", "ADA": "cardano", "DOT": "polkadot",
	"XRP": "ripple", "DOGE": "dogecoin", "LTC": "litecoin", "LINK": "chainlink",
	"BCH": "bitcoin-cash", "BNB": "binancecoin",
}

// coinGeckoQuotes are the quote currencies taken from vs_currencies
// (GET /api/v3/simple/supported_vs_currencies) that a symbol may use.
var coinGeckoQuotes = map[string]bool{"USD": true, "EUR": true, "GBP": true, "JPY": true, "BTC": true, "ETH": true}

// coinGecko reads GET {base}/api/v3/simple/price?ids=bitcoin,...
// &vs_currencies=usd&include_24hr_change=true, answered with
// {"bitcoin":{"usd":45000.1,"usd_24h_change":1.2},...}. A demo-tier key
// goes in the x-cg-demo-api-key header; without one the public tier
// answers with lower limits.
type coinGecko struct {
	base, key string
	do        doer
}

func newCoinGecko(base, key string, d doer, _ *providerStats) provider {
	return &coinGecko{base: base, key: key, do: d}
}

func (*coinGecko) name() string { return "coingecko" }

func (p *coinGecko) fetch(ctx context.Context, syms []market.Symbol) (map[market.Symbol]market.Price, error) {
	var ids, vs []string
	for _, sym := range syms {
		id, ok := coinGeckoIDs[sym.Base()]
		if !ok || !coinGeckoQuotes[sym.Quote()] {
			continue
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
		if q := strings.ToLower(sym.Quote()); !slices.Contains(vs, q) {
			vs = append(vs, q)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	req, err := newGet(p.base + "/api/v3/simple/price?ids=" + joinIDs(ids) + "&vs_currencies=" + joinIDs(vs) + "&include_24hr_change=true")
	if err != nil {
		return nil, &providerError{provider: p.name(), reason: ReasonNetwork, msg: err.Error()}
	}
	if p.key != "" {
		req.Header.Set("x-cg-demo-api-key", p.key)
	}
	prices := map[market.Symbol]market.Price{}
	err = p.do.do(ctx, &exchange{req: req, decode: func(body []byte) error {
		var data map[string]map[string]json.RawMessage
		if err := decodeJSON(body, &data); err != nil {
			return err
		}
		// Map back through the request's own table, so a key is always
		// the canonical symbol (SOL-USD, never SOLANA-USD).
		for _, sym := range syms {
			id, ok := coinGeckoIDs[sym.Base()]
			if !ok || !coinGeckoQuotes[sym.Quote()] {
				continue
			}
			raw, ok := data[id][strings.ToLower(sym.Quote())]
			if !ok {
				continue
			}
			price, err := parseNumber(raw)
			if err != nil {
				return badPrice(sym, err)
			}
			prices[sym] = price
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return prices, nil
}

// badPrice is the parse error of a price a provider got wrong.
func badPrice(sym market.Symbol, err error) *providerError {
	return &providerError{reason: ReasonParse, msg: sym.String() + ": " + err.Error()}
}
