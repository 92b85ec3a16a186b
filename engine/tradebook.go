package engine

import (
	"sync"
	"time"

	"github.com/lineage-arena/lineage/arena"
)

// RecentTrades is how many fills per agent the engine keeps for
// (*Engine).Trades.
const RecentTrades = 200

// Trade is one durable fill: the trade event with its sequence number and
// time.
type Trade struct {
	Seq  uint64
	Time time.Time
	arena.TradeEvent
}

// tradeBook keeps every agent's most recent fills, fed with durable trade
// events: by the rebuild on start, then by every commit. It is safe for
// concurrent use.
type tradeBook struct {
	mu      sync.Mutex
	byAgent map[string][]Trade
}

func newTradeBook() *tradeBook { return &tradeBook{byAgent: map[string][]Trade{}} }

// observe records c if it is a trade.
func (b *tradeBook) observe(c committed) {
	e := c.event
	if e.Trade == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	rows := b.byAgent[e.Trade.Agent]
	if n := len(rows); n > 0 && rows[n-1].Seq >= e.Seq {
		return // seen already: a rebuild from a checkpoint reads its tail twice
	}
	rows = append(rows, Trade{Seq: e.Seq, Time: e.Time, TradeEvent: *e.Trade})
	if len(rows) > RecentTrades {
		rows = append(rows[:0:0], rows[len(rows)-RecentTrades:]...)
	}
	b.byAgent[e.Trade.Agent] = rows
}

// recent returns a copy of id's most recent fills, oldest first.
func (b *tradeBook) recent(id string) []Trade {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Trade{}, b.byAgent[id]...)
}

// snapshot returns the book as it is now, cheaply: rows are only appended
// to or replaced whole, so each agent's rows, cut to their length, stay as
// they are. It is safe to read from any goroutine.
func (b *tradeBook) snapshot() map[string][]Trade {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string][]Trade, len(b.byAgent))
	for id, rows := range b.byAgent {
		out[id] = rows[:len(rows):len(rows)]
	}
	return out
}
