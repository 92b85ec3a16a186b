package engine

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// decodeMarket reads the market payload of a logged market event. Most of
// a log is market events and a rebuild reads every one, so it first tries
// a fast path that parses exactly the layout encoding/json writes for
// arena.MarketEvent; anything else — another field order, an escape, a
// field it does not know — falls back to encoding/json. Both give the same
// result (see TestDecodeMarketMatchesEncodingJSON).
func decodeMarket(payload []byte) (*arena.MarketEvent, error) {
	if m, ok := fastMarket(payload); ok {
		return m, nil
	}
	var e struct {
		Market *arena.MarketEvent `json:"market"`
	}
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, err
	}
	if e.Market == nil {
		return nil, errNoMarket
	}
	return e.Market, nil
}

var errNoMarket = jsonError("no market field")

type jsonError string

func (e jsonError) Error() string { return string(e) }

// fastMarket parses `..."market":{"symbol":S,"price":P,"change_percent":C
// [,"source":S][,"stale":true]}}` at the end of payload.
func fastMarket(b []byte) (*arena.MarketEvent, bool) {
	i := bytes.Index(b, []byte(`,"market":{`))
	if i < 0 || bytes.IndexByte(b, '\\') >= 0 {
		return nil, false
	}
	p := &scanner{b: b[i+len(`,"market":{`):]}
	var m arena.MarketEvent
	sym, ok := p.str(`"symbol":`)
	if !ok {
		return nil, false
	}
	m.Symbol = market.Symbol(sym)
	px, ok := p.num(`,"price":`)
	if !ok {
		return nil, false
	}
	price, err := market.ParsePrice(px)
	if err != nil {
		return nil, false
	}
	m.Price = price
	cp, ok := p.num(`,"change_percent":`)
	if !ok {
		return nil, false
	}
	if m.ChangePercent, err = strconv.ParseFloat(cp, 64); err != nil {
		return nil, false
	}
	if src, ok := p.str(`,"source":`); ok {
		m.Source = src
	}
	if p.lit(`,"stale":true`) {
		m.Stale = true
	}
	return &m, p.lit(`}}`) && len(p.b) == 0
}

type scanner struct{ b []byte }

func (s *scanner) lit(l string) bool {
	if bytes.HasPrefix(s.b, []byte(l)) {
		s.b = s.b[len(l):]
		return true
	}
	return false
}

func (s *scanner) str(key string) (string, bool) {
	if !bytes.HasPrefix(s.b, []byte(key+`"`)) {
		return "", false
	}
	rest := s.b[len(key)+1:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	s.b = rest[end+1:]
	return string(rest[:end]), true
}

func (s *scanner) num(key string) (string, bool) {
	if !s.lit(key) {
		return "", false
	}
	end := bytes.IndexAny(s.b, ",}")
	if end <= 0 {
		return "", false
	}
	n := string(s.b[:end])
	s.b = s.b[end:]
	return n, true
}
