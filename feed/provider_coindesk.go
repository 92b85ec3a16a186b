package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/lineage-arena/lineage/market"
)

// coinDesk reads the CoinDesk Data API's CADLI index:
// GET {base}/index/cc/v1/latest/tick?market=cadli&instruments=BTC-USD,...
// answered with {"Data":{"BTC-USD":{"VALUE":45000.1,
// "VALUE_LAST_UPDATE_TS":1735689600,...}},"Err":{}}. Instruments are named
// like canonical symbols. A non-empty Err fails the whole answer, and the
// HTTP status it mirrors (http_status_code) classifies it. A key goes in
// the header "Authorization: Apikey KEY".
type coinDesk struct {
	base, key string
	do        doer
}

func newCoinDesk(base, key string, d doer, _ *providerStats) provider {
	return &coinDesk{base: base, key: key, do: d}
}

func (*coinDesk) name() string { return "coindesk" }

func (p *coinDesk) fetch(ctx context.Context, syms []market.Symbol) (map[market.Symbol]market.Price, error) {
	if len(syms) == 0 {
		return nil, nil
	}
	ids := make([]string, len(syms))
	for i, sym := range syms {
		ids[i] = string(sym)
	}
	req, err := newGet(p.base + "/index/cc/v1/latest/tick?market=cadli&instruments=" + joinIDs(ids))
	if err != nil {
		return nil, &providerError{provider: p.name(), reason: ReasonNetwork, msg: err.Error()}
	}
	if p.key != "" {
		req.Header.Set("Authorization", "Apikey "+p.key)
	}
	prices := map[market.Symbol]market.Price{}
	err = p.do.do(ctx, &exchange{req: req, decode: func(body []byte) error {
		var r struct {
			Data map[string]struct {
				Value json.RawMessage `json:"VALUE"`
			} `json:"Data"`
			Err json.RawMessage `json:"Err"`
		}
		if err := decodeJSON(body, &r); err != nil {
			return err
		}
		if e := bytes.TrimSpace(r.Err); len(e) > 0 && !bytes.Equal(e, []byte("null")) && !bytes.Equal(e, []byte("{}")) {
			return coinDeskErr(e)
		}
		for _, sym := range syms {
			d, ok := r.Data[string(sym)]
			if !ok {
				continue
			}
			price, err := parseNumber(d.Value)
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

// coinDeskErr turns the Err object of a 2xx answer into an error.
func coinDeskErr(raw []byte) *providerError {
	var e struct {
		Type    int    `json:"type"`
		Message string `json:"message"`
		Status  int    `json:"http_status_code"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return &providerError{reason: ReasonParse, msg: "malformed Err object"}
	}
	reason := ReasonHTTP4xx
	switch {
	case e.Status == http.StatusTooManyRequests:
		reason = ReasonRateLimited
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusPaymentRequired || e.Status == http.StatusForbidden:
		reason = ReasonAuth
	case e.Status >= 500:
		reason = ReasonHTTP5xx
	}
	return &providerError{reason: reason, msg: fmt.Sprintf("Err type %d: %s", e.Type, e.Message)}
}
