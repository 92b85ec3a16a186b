package main

import "sync"

// recentTrades is how many fills per agent /api/agents/{id} shows.
const recentTrades = 200

// tradeBook keeps every agent's most recent fills for the API, fed with
// durable trade events: by the rebuild on start, then by every commit. It is
// safe for concurrent use.
type tradeBook struct {
	mu      sync.Mutex
	byAgent map[string][]tradeRow
}

func newTradeBook() *tradeBook { return &tradeBook{byAgent: map[string][]tradeRow{}} }

// observe records c if it is a trade.
func (b *tradeBook) observe(c committed) {
	e := c.event
	if e.Trade == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	rows := append(b.byAgent[e.Trade.Agent], tradeRow{Seq: e.Seq, Time: e.Time, TradeEvent: *e.Trade})
	if len(rows) > recentTrades {
		rows = append(rows[:0:0], rows[len(rows)-recentTrades:]...)
	}
	b.byAgent[e.Trade.Agent] = rows
}

// recent returns a copy of id's most recent fills, oldest first.
func (b *tradeBook) recent(id string) []tradeRow {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]tradeRow{}, b.byAgent[id]...)
}
