package arena

import (
	"encoding/json"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// Snapshot is an immutable picture of the arena after a tick, for readers
// on other goroutines: a server's API, its WebSocket hub, its metrics. The
// arena's goroutine takes one with Snapshot and publishes it (for example
// through an atomic.Pointer); readers never touch the Arena itself.
type Snapshot struct {
	Time       time.Time // the last tick's time
	Ticks      int64
	AgentTicks int64
	NextSeq    uint64
	Symbols    []string
	// Agents holds every agent ever born, living and dead, in birth order.
	Agents []AgentState
	// Living is the number of living agents.
	Living    int
	Rounds    int          // rounds completed
	LastRound *RoundResult // nil before the first round ends
	Winners   []RoundWinner
	// Marks are the latest price per symbol (Symbols' order); zero before
	// a symbol's first tick.
	Marks []MarketEvent
}

// Snapshot returns a picture of the arena now. It copies what it returns,
// so it costs O(agents); take one per tick or per commit, not per read.
func (ar *Arena) Snapshot() *Snapshot {
	s := &Snapshot{
		Time: ar.lastTime, Ticks: ar.ticks, AgentTicks: ar.agentTicks, NextSeq: ar.seq,
		Agents: ar.Agents(), Living: len(ar.active), Rounds: len(ar.winners), LastRound: ar.lastRound,
		Winners: ar.Winners(),
	}
	for i, sym := range ar.cfg.Symbols {
		s.Symbols = append(s.Symbols, string(sym))
		m := MarketEvent{Symbol: sym, Price: ar.marks[i]}
		if ar.lastMarket != nil && ar.lastMarket[i] != nil {
			m = *ar.lastMarket[i]
		}
		s.Marks = append(s.Marks, m)
	}
	return s
}

// snapshotJSON is Snapshot as JSON, with a symbol not ticked yet as null
// in Marks: a zero price is not a price, and would not decode.
type snapshotJSON struct {
	snapshotFields
	Marks []*MarketEvent
}

// snapshotFields is Snapshot without its methods (and so without its
// JSON ones).
type snapshotFields Snapshot

// MarshalJSON encodes s, a symbol whose first tick has not come as null
// in Marks, so that a snapshot of an arena that has not seen every symbol
// yet decodes (UnmarshalJSON) to what it was.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	v := snapshotJSON{snapshotFields: snapshotFields(s), Marks: make([]*MarketEvent, len(s.Marks))}
	v.snapshotFields.Marks = nil
	for i := range s.Marks {
		if s.Marks[i].Price != 0 {
			v.Marks[i] = &s.Marks[i]
		}
	}
	return json.Marshal(v)
}

// UnmarshalJSON decodes what MarshalJSON encodes: a null mark is its
// symbol's, zero.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var v snapshotJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Snapshot(v.snapshotFields)
	s.Marks = nil
	if v.Marks != nil {
		s.Marks = make([]MarketEvent, len(v.Marks))
	}
	for i, m := range v.Marks {
		switch {
		case m != nil:
			s.Marks[i] = *m
		case i < len(s.Symbols):
			s.Marks[i].Symbol = market.Symbol(s.Symbols[i])
		}
	}
	return nil
}
