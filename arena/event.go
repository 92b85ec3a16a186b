package arena

import (
	"time"

	"github.com/lineage-arena/lineage/market"
)

// EventType names what an Event reports. The values are the wire names
// clients see.
type EventType string

// The event types the arena emits.
const (
	EventMarket EventType = "market" // a price tick
	EventAgent  EventType = "agent"  // an agent's periodic state
	EventTrade  EventType = "trade"  // a position opened or closed
	EventScar   EventType = "scar"   // a permanent scar
	EventDeath  EventType = "death"  // an agent died
	EventSpawn  EventType = "spawn"  // an agent was born of a parent
	EventRound  EventType = "round"  // a round ended
	// EventCheckpoint says a checkpoint of the arena's state is durable
	// (see CheckpointEvent); it changes no agent.
	EventCheckpoint EventType = "checkpoint"
)

// Event is one change in the arena. Seq is a global, gap-free counter over
// every event the arena emits, starting at Config.FirstSeq. Exactly one of
// the payload pointers is set, matching Type. Payloads are never modified
// after emission, so a Sink may keep them.
type Event struct {
	Seq  uint64    `json:"sequence"`
	Tick int64     `json:"tick"` // number of ticks processed before this event's tick
	Time time.Time `json:"timestamp"`
	Type EventType `json:"event_type"`

	Market *MarketEvent `json:"market,omitempty"`
	Agent  *AgentState  `json:"agent,omitempty"`
	Trade  *TradeEvent  `json:"trade,omitempty"`
	Scar   *ScarEvent   `json:"scar,omitempty"`
	Death  *DeathEvent  `json:"death,omitempty"`
	Spawn  *SpawnEvent  `json:"spawn,omitempty"`
	Round  *RoundResult `json:"round,omitempty"`

	Checkpoint *CheckpointEvent `json:"checkpoint,omitempty"`
}

// Sink receives every event in sequence order. Emit is called from the
// goroutine that calls Arena.Step; an error stops the step and is returned
// from it (a full disk must stop the arena, not lose history).
type Sink interface {
	Emit(e Event) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event) error

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) error { return f(e) }

// MarketEvent is a price tick as the arena saw it.
type MarketEvent struct {
	Symbol market.Symbol `json:"symbol"`
	Price  market.Price  `json:"price"`
	// ChangePercent is the change from the symbol's previous tick, in percent.
	ChangePercent float64 `json:"change_percent"`
	Source        string  `json:"source,omitempty"`
	Stale         bool    `json:"stale,omitempty"`
}

// TradeEvent is one fill: a position opened, or closed by a signal or a
// liquidation at death.
type TradeEvent struct {
	Agent  string        `json:"agent_id"`
	Symbol market.Symbol `json:"symbol"`
	Action string        `json:"action"` // "open" or "close"
	Side   Side          `json:"side"`   // the position's side
	Qty    market.Qty    `json:"quantity"`
	Price  market.Price  `json:"price"` // fill price, slippage included
	Fee    market.Money  `json:"fee"`
	// Realized is the closing leg's price PnL (close only); NetPnL subtracts
	// both legs' fees and decides win or loss.
	Realized market.Money `json:"realized_pnl"`
	NetPnL   market.Money `json:"net_pnl"`
	Reason   string       `json:"reason"` // "signal" or "liquidation"
	Cash     market.Money `json:"cash"`   // the agent's cash after the fill
	// DecisionTick and DecisionSeq are the tick the order was decided on
	// and the sequence number of that tick's market event: a signal fill
	// comes on a later tick (the symbol's next) than its decision; a
	// liquidation is decided and filled on the tick of the death.
	DecisionTick int64  `json:"decision_tick"`
	DecisionSeq  uint64 `json:"decision_sequence"`
	// Slippage is the adverse slippage drawn for this fill, in ppm of the
	// tick's price: a buy fills at price × (1 + s), a sell at price × (1 − s),
	// each truncated to the 1e-8 USD price unit.
	Slippage market.Rate `json:"slippage_ppm"`
}

// ScarEvent reports a new permanent scar.
type ScarEvent struct {
	Agent string `json:"agent_id"`
	Scar  Scar   `json:"scar"`
	Total int    `json:"total_scars"`
}

// DeathEvent reports an irreversible death.
type DeathEvent struct {
	Agent    string       `json:"agent_id"`
	Cause    Cause        `json:"cause"`
	Equity   market.Money `json:"final_capital"`
	Peak     market.Money `json:"peak_capital"`
	Scars    int          `json:"scars"`
	Trades   int          `json:"trades"`
	Lifespan int64        `json:"lifespan_ticks"`
	// Seq and Tick are those of the death event itself.
	Seq  uint64 `json:"sequence"`
	Tick int64  `json:"tick"`
}

// SpawnEvent reports a birth: the parent paid Endowment to the child.
type SpawnEvent struct {
	Parent     string       `json:"parent_id"`
	Child      string       `json:"child_id"`
	Strategy   string       `json:"strategy"`
	Generation int          `json:"generation"`
	Endowment  market.Money `json:"endowment"`
	Mode       string       `json:"inheritance"`
	Mutation   float64      `json:"mutation_rate"`
	Params     Params       `json:"params"`
}

// CheckpointEvent commits a checkpoint (Arena.Checkpoint) to the run's
// history: the state the arena had when its next sequence number was
// StateSeq, whose encoding has SHA256 and Size. Whoever keeps the state
// elsewhere (a file) proves it with this event; a replay that reaches
// StateSeq can prove the state equal. It is not folded into the ledger
// hash: a run's ledger does not depend on how often it is checkpointed.
type CheckpointEvent struct {
	StateSeq uint64 `json:"state_sequence"`
	Ticks    int64  `json:"ticks"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
}
