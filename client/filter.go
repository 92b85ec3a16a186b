package client

import (
	"encoding/json"
	"slices"

	"github.com/lineage-arena/lineage/market"
)

// Filter narrows the stream. It is sent to the server as the subscribe
// message on every connection, and the Conn applies it too: the snapshot
// and a resumed history may come before the server has the subscription.
// An empty list lets everything through; the zero Filter sends nothing.
type Filter struct {
	// Symbols filter market and trade events ("btc-usd" and "BTC/USD"
	// are BTC-USD, as for the server).
	Symbols []string
	// Agents filter agent, trade, scar, death and spawn events (a spawn
	// by its parent or its child).
	Agents []string
	// Events keeps only these event types (TypeMarket, TypeTrade, …).
	Events []string
}

func (f Filter) empty() bool { return len(f.Symbols)+len(f.Agents)+len(f.Events) == 0 }

// subscribe is the subscribe message for f.
func (f Filter) subscribe() []byte {
	b, _ := json.Marshal(struct {
		Type    string   `json:"type"`
		Symbols []string `json:"symbols"`
		Agents  []string `json:"agents"`
		Events  []string `json:"events"`
	}{"subscribe", f.Symbols, f.Agents, f.Events})
	return b
}

// wants applies f to an event as the server does (docs/protocol.md).
func (f Filter) wants(m *Message) bool {
	if len(f.Events) > 0 && !slices.Contains(f.Events, m.Type) {
		return false
	}
	sym, agents := m.subjects()
	if len(f.Symbols) > 0 && sym != "" && !slices.ContainsFunc(f.Symbols, func(s string) bool { return sameSymbol(s, sym) }) {
		return false
	}
	if len(f.Agents) > 0 && len(agents) > 0 && !slices.ContainsFunc(agents, func(a string) bool { return slices.Contains(f.Agents, a) }) {
		return false
	}
	return true
}

// subjects are the symbol and the agents an event is about, as the
// server's filters see them.
func (m *Message) subjects() (symbol string, agents []string) {
	switch m.Type {
	case TypeMarket:
		if m.Market != nil {
			return m.Market.Symbol, nil
		}
		return "", nil
	case TypeAgent:
		if m.Agent != nil {
			return "", []string{m.Agent.ID}
		}
		return "", nil
	case TypeTrade, TypeScar, TypeDeath, TypeSpawn:
	default:
		return "", nil
	}
	var f struct {
		Agent  string `json:"agent_id"`
		Symbol string `json:"symbol"`
		Parent string `json:"parent_id"`
		Child  string `json:"child_id"`
	}
	if json.Unmarshal(m.Payload(), &f) != nil {
		return "", nil
	}
	switch m.Type {
	case TypeTrade:
		return f.Symbol, []string{f.Agent}
	case TypeSpawn:
		return "", []string{f.Parent, f.Child}
	}
	return "", []string{f.Agent}
}

// sameSymbol compares symbols as the server does, after parsing.
func sameSymbol(a, b string) bool {
	pa, errA := market.ParseSymbol(a)
	pb, errB := market.ParseSymbol(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa == pb
}
