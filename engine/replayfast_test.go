package engine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// The fast path gives what encoding/json gives, for real market events and
// for payloads it must hand over to encoding/json.
func TestDecodeMarketMatchesEncodingJSON(t *testing.T) {
	var payloads [][]byte
	src := feed.NewSim(feed.SimConfig{Seed: 3})
	prev := map[market.Symbol]market.Price{}
	for i := range 5000 {
		tk, _ := src.Next(context.Background())
		m := &arena.MarketEvent{Symbol: tk.Symbol, Price: tk.Price, Source: tk.Source, Stale: i%7 == 0}
		if p := prev[tk.Symbol]; p > 0 {
			m.ChangePercent = float64(tk.Price-p) / float64(p) * 100
		}
		if i%11 == 0 {
			m.Source = ""
		}
		prev[tk.Symbol] = tk.Price
		b, _ := json.Marshal(arena.Event{Seq: uint64(i), Type: arena.EventMarket, Time: tk.Time, Market: m})
		payloads = append(payloads, b)
	}
	payloads = append(payloads,
		[]byte(`{"sequence":1,"market":{"price":5,"symbol":"BTC-USD","change_percent":0}}`),         // another order
		[]byte(`{"sequence":1,"market":{"symbol":"BTC-USD","price":5,"change_percent":0,"x":1}}`),   // unknown field
		[]byte(`{"sequence":1,"market":{"symbol":"BTC\u002dUSD","price":5,"change_percent":0}}`),    // an escape
		[]byte(`{"sequence":1,"market":{"symbol":"BTC-USD","price":5.5e3,"change_percent":1e-3}}`),  // exponents
		[]byte(`{"sequence":1,"market":{"symbol":"BTC-USD","price":5,"change_percent":0}, "x":{}}`), // trailing field
	)
	fast := 0
	for _, b := range payloads {
		var want struct {
			Market *arena.MarketEvent `json:"market"`
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got, err := decodeMarket(b)
		if err != nil || *got != *want.Market {
			t.Fatalf("decodeMarket(%s) = %+v, %v; encoding/json gives %+v", b, got, err, want.Market)
		}
		if _, ok := fastMarket(b); ok {
			fast++
		}
	}
	if fast < 5000 {
		t.Errorf("the fast path took %d of the 5000 real events", fast)
	}
	if _, err := decodeMarket([]byte(`{"sequence":1}`)); err == nil {
		t.Error("a payload without a market decoded")
	}
}
