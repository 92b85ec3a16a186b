package feed

import (
	"context"
	"errors"
	"net/url"

	"github.com/lineage-arena/lineage/market"
)

// coinbase reads Coinbase Exchange's public ticker, one request per
// symbol: GET {base}/products/BTC-USD/ticker, answered with
// {"trade_id":1,"price":"45000.10","size":"0.1","time":"...","bid":"...",
// "ask":"...","volume":"..."}. Product ids are canonical symbols; prices are
// decimal strings, parsed exactly. A 404 means Coinbase does not list the
// product: the symbol is not covered. It needs no key.
type coinbase struct {
	base string
	do   doer
}

func newCoinbase(base, _ string, d doer, _ *providerStats) provider {
	return &coinbase{base: base, do: d}
}

func (*coinbase) name() string { return "coinbase" }

// fetch asks for each symbol in turn. The first failure stops it, so a
// failing API is not asked again for every symbol; the prices read before
// it are returned with the error.
func (p *coinbase) fetch(ctx context.Context, syms []market.Symbol) (map[market.Symbol]market.Price, error) {
	prices := map[market.Symbol]market.Price{}
	for _, sym := range syms {
		req, err := newGet(p.base + "/products/" + url.PathEscape(string(sym)) + "/ticker")
		if err != nil {
			return prices, &providerError{provider: p.name(), reason: ReasonNetwork, msg: err.Error()}
		}
		err = p.do.do(ctx, &exchange{req: req, notFoundOK: true, decode: func(body []byte) error {
			var t struct {
				Price *string `json:"price"`
			}
			if err := decodeJSON(body, &t); err != nil {
				return err
			}
			if t.Price == nil {
				return badPrice(sym, errors.New("no price field"))
			}
			price, err := market.ParsePrice(*t.Price)
			if err != nil {
				return badPrice(sym, err)
			}
			prices[sym] = price
			return nil
		}})
		switch {
		case errors.Is(err, errNotFound):
			continue
		case err != nil:
			return prices, err
		}
	}
	return prices, nil
}
