package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/lineage-arena/lineage/market"
)

// coinMarketCapIDs maps base currencies to CoinMarketCap ids
// (GET /v1/cryptocurrency/map). Ids are stable where symbols are not
// (several coins share a ticker), so quotes are asked by id; the answer's
// own "symbol" is checked against the base as well.
var coinMarketCapIDs = map[string]int{
	"BTC": 1, "ETH": 1027, "SOL": 5426, "ADA": 2010, "DOT": 6636,
	"LTC": 2, "XRP": 52, "DOGE": 74, "BNB": 1839, "BCH": 1831, "LINK": 1975,
}

// coinMarketCap reads GET {base}/v2/cryptocurrency/quotes/latest?id=1,1027
// with the key in the X-CMC_PRO_API_KEY header, answered with
// {"status":{"error_code":0,"error_message":null},"data":{"1":{"id":1,
// "symbol":"BTC","quote":{"USD":{"price":45000.1,...}}}}}. Quotes are in
// USD, the API's default convert currency. Without a key it sends nothing:
// every call fails with reason auth.
type coinMarketCap struct {
	base, key string
	do        doer
	stats     *providerStats
}

func newCoinMarketCap(base, key string, d doer, st *providerStats) provider {
	return &coinMarketCap{base: base, key: key, do: d, stats: st}
}

func (*coinMarketCap) name() string { return "coinmarketcap" }

func (p *coinMarketCap) fetch(ctx context.Context, syms []market.Symbol) (map[market.Symbol]market.Price, error) {
	var ids []string
	bySym := map[market.Symbol]string{}
	for _, sym := range syms {
		id, ok := coinMarketCapIDs[sym.Base()]
		if !ok || sym.Quote() != "USD" {
			continue
		}
		bySym[sym] = strconv.Itoa(id)
		ids = append(ids, bySym[sym])
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if p.key == "" {
		p.stats.refuse(ReasonAuth)
		return nil, &providerError{provider: p.name(), reason: ReasonAuth, msg: "no API key (COINMARKETCAP_API_KEY); no request sent"}
	}
	req, err := newGet(p.base + "/v2/cryptocurrency/quotes/latest?id=" + joinIDs(ids))
	if err != nil {
		return nil, &providerError{provider: p.name(), reason: ReasonNetwork, msg: err.Error()}
	}
	req.Header["X-CMC_PRO_API_KEY"] = []string{p.key} // as documented, not canonicalised
	prices := map[market.Symbol]market.Price{}
	err = p.do.do(ctx, &exchange{req: req, decode: func(body []byte) error {
		var r struct {
			Status struct {
				ErrorCode    int     `json:"error_code"`
				ErrorMessage *string `json:"error_message"`
			} `json:"status"`
			Data map[string]json.RawMessage `json:"data"`
		}
		if err := decodeJSON(body, &r); err != nil {
			return err
		}
		if r.Status.ErrorCode != 0 {
			msg := ""
			if r.Status.ErrorMessage != nil {
				msg = *r.Status.ErrorMessage
			}
			return &providerError{reason: cmcReason(r.Status.ErrorCode), msg: fmt.Sprintf("error_code %d: %s", r.Status.ErrorCode, msg)}
		}
		for _, sym := range syms {
			id, ok := bySym[sym]
			if !ok {
				continue
			}
			raw, ok := r.Data[id]
			if !ok {
				continue
			}
			coin, err := cmcCoin(raw)
			if err != nil {
				return badPrice(sym, err)
			}
			if coin.Symbol != sym.Base() {
				continue // the id table is wrong: no price rather than a wrong one
			}
			usd, ok := coin.Quote["USD"]
			if !ok {
				continue
			}
			price, err := parseNumber(usd.Price)
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

type cmcQuote struct {
	Symbol string `json:"symbol"`
	Quote  map[string]struct {
		Price json.RawMessage `json:"price"`
	} `json:"quote"`
}

// cmcCoin reads one entry of data: an object when asked by id, an array
// of one when asked by symbol; both are accepted.
func cmcCoin(raw json.RawMessage) (cmcQuote, error) {
	var c cmcQuote
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		var list []cmcQuote
		if err := decodeJSON(t, &list); err != nil {
			return c, err
		}
		if len(list) != 1 {
			return c, fmt.Errorf("%d coins for one id", len(list))
		}
		return list[0], nil
	}
	err := decodeJSON(raw, &c)
	return c, err
}

// cmcReason classifies CoinMarketCap's documented status.error_code values.
func cmcReason(code int) Reason {
	switch {
	case code >= 1001 && code <= 1007:
		return ReasonAuth // key invalid, missing, disabled or its plan
	case code >= 1008 && code <= 1011:
		return ReasonRateLimited // minute, daily, monthly or IP limit
	case code >= 500 && code <= 599:
		return ReasonHTTP5xx
	}
	return ReasonHTTP4xx
}
