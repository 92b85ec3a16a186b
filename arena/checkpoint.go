package arena

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// CheckpointFormat names the layout of the checkpoints this build writes
// and reads (see Checkpoint); a checkpoint of another layout is refused.
const CheckpointFormat = "lineage-arena-checkpoint/1"

// ErrCheckpoint is wrapped by Checkpoint's refusal to capture an arena
// it cannot capture whole — an agent whose strategy does not implement
// StrategyState, an arena a Sink error stopped — and by Restore's refusal
// of data that is not a checkpoint of this arena's configuration.
var ErrCheckpoint = errors.New("checkpoint")

// StrategyState is implemented by a Strategy whose internal state (its
// indicators, its memory of past ticks) can be saved in a checkpoint and
// put back. MarshalBinary must be deterministic: the same state gives the
// same bytes. UnmarshalBinary is called on a strategy fresh from its
// spec's New, with the same params and symbol count as the one saved.
// Every built-in strategy implements it; a Strategy without it makes
// Checkpoint fail for its arena (never a checkpoint that restores wrong).
type StrategyState interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// Checkpoint returns the complete state of the arena — every agent living
// and dead with its money, positions, pending orders, scars, peaks,
// strategy state and random source; the rounds, counters, sequence and
// ledger hash state — as bytes from which Restore rebuilds an arena that
// goes on exactly as this one would: the same events, byte for byte, and
// the same LedgerHash. It is called between steps, on the arena's
// goroutine, and copies everything (the bytes share nothing with the
// arena).
//
// The encoding is deterministic — the same run gives the same bytes for
// any number of workers and on every machine — and versioned
// (CheckpointFormat): JSON with money as exact integers and floats in the
// shortest form that reads back to the same bits. An arena it cannot
// capture whole is an error wrapping ErrCheckpoint.
func (ar *Arena) Checkpoint() ([]byte, error) {
	st, err := ar.CheckpointState()
	if err != nil {
		return nil, err
	}
	return st.Encode()
}

// CheckpointState is the arena's state taken between two steps, not yet
// encoded: CheckpointState copies what the arena changes in place and
// shares with the arena only what it never changes again (a scar once
// logged, a death, a round's result), so Encode may run on any goroutine,
// concurrently with later steps, and gives the bytes Checkpoint would have
// given when the state was taken. It splits a checkpoint into a cheap part
// on the arena's goroutine and the costly encoding elsewhere.
type CheckpointState struct{ c checkpoint }

// NextSeq is the arena's next sequence number when the state was taken.
func (s *CheckpointState) NextSeq() uint64 { return s.c.NextSeq }

// Ticks is the number of market steps taken when the state was taken.
func (s *CheckpointState) Ticks() int64 { return s.c.Ticks }

// Encode returns the state's checkpoint bytes (see Checkpoint). It may be
// called from any goroutine, once or more: it gives the same bytes.
func (s *CheckpointState) Encode() ([]byte, error) {
	b, err := json.Marshal(&s.c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	return b, nil
}

// CheckpointState takes the arena's state, as Checkpoint does, without
// encoding it. It is called between steps, on the arena's goroutine; an
// arena it cannot capture whole is an error wrapping ErrCheckpoint.
func (ar *Arena) CheckpointState() (*CheckpointState, error) {
	if ar.err != nil {
		return nil, fmt.Errorf("%w: the arena is stopped: %w", ErrCheckpoint, ar.err)
	}
	// Slices the arena writes in place are copied; those it only appends
	// to are cut to their length, so a later append never shows through.
	c := checkpoint{
		Format: CheckpointFormat, Seed: ar.cfg.Seed, Symbols: ar.cfg.Symbols, MaxAgents: ar.cfg.MaxAgents, RoundTicks: ar.cfg.RoundTicks,
		NextSeq: ar.seq, Ticks: ar.ticks, AgentTicks: ar.agentTicks, LastTime: ar.lastTime,
		LastMarket: slices.Clone(ar.lastMarket),
		Round:      ckptRound{Number: ar.round.number, StartTick: ar.round.startTick}, Winners: slices.Clip(ar.winners), LastRound: ar.lastRound,
		LedgerRecords: ar.ledgerRecs,
	}
	c.Marks = make([]int64, len(ar.marks))
	for i, p := range ar.marks {
		c.Marks[i] = int64(p) // a Price refuses zero, a mark before its first tick
	}
	for _, a := range ar.round.departed {
		c.Round.Departed = append(c.Round.Departed, a.id)
	}
	var err error
	if c.SpawnRNG, err = ar.spawnSrc.MarshalBinary(); err != nil {
		return nil, fmt.Errorf("%w: spawn source: %w", ErrCheckpoint, err)
	}
	lm, ok := ar.ledger.(encoding.BinaryMarshaler)
	if !ok {
		return nil, fmt.Errorf("%w: the ledger hash cannot be saved", ErrCheckpoint)
	}
	if c.Ledger, err = lm.MarshalBinary(); err != nil {
		return nil, fmt.Errorf("%w: ledger hash: %w", ErrCheckpoint, err)
	}
	c.Agents = make([]ckptAgent, len(ar.all))
	for i, a := range ar.all {
		if c.Agents[i], err = saveAgent(a); err != nil {
			return nil, err
		}
	}
	return &CheckpointState{c: c}, nil
}

// Restore rebuilds an arena from a checkpoint that Checkpoint wrote for an
// arena of the same Config (the Seed and Symbols must match; the run's
// other rules are the caller's to keep the same, as they are for New).
// sink receives the events from then on; nil discards them. Data that is
// not such a checkpoint is an error wrapping ErrCheckpoint; the returned
// arena must be closed like New's.
func Restore(cfg Config, data []byte, sink Sink) (*Arena, error) {
	var c checkpoint
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: does not decode: %w", ErrCheckpoint, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: bytes after the checkpoint", ErrCheckpoint)
	}
	if c.Format != CheckpointFormat {
		return nil, fmt.Errorf("%w: format %q; this build reads %q", ErrCheckpoint, c.Format, CheckpointFormat)
	}
	if cfg.MaxAgents == 0 {
		cfg.MaxAgents = c.MaxAgents
	}
	cfg = cfg.withDefaults(max(1, len(c.Agents)))
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := len(cfg.Symbols)
	switch {
	case c.Seed != cfg.Seed || !slices.Equal(c.Symbols, cfg.Symbols):
		return nil, fmt.Errorf("%w: taken of a run with seed %d and symbols %v, not seed %d and symbols %v",
			ErrCheckpoint, c.Seed, c.Symbols, cfg.Seed, cfg.Symbols)
	case c.MaxAgents != cfg.MaxAgents || c.RoundTicks != cfg.RoundTicks:
		return nil, fmt.Errorf("%w: taken of a run with at most %d agents and rounds of %d ticks, not %d and %d",
			ErrCheckpoint, c.MaxAgents, c.RoundTicks, cfg.MaxAgents, cfg.RoundTicks)
	case len(c.Marks) != n || len(c.LastMarket) != n:
		return nil, fmt.Errorf("%w: %d marks for %d symbols", ErrCheckpoint, len(c.Marks), n)
	case len(c.Agents) == 0:
		return nil, fmt.Errorf("%w: no agents", ErrCheckpoint)
	case c.NextSeq < cfg.FirstSeq:
		return nil, fmt.Errorf("%w: next sequence %d before the first %d", ErrCheckpoint, c.NextSeq, cfg.FirstSeq)
	}
	if sink == nil {
		sink = SinkFunc(func(Event) error { return nil })
	}
	ar := &Arena{
		cfg: cfg, specs: append(Builtin(), cfg.Strategies...), sink: sink,
		symIndex: make(map[market.Symbol]int, n), marks: make([]market.Price, n), lastMarket: c.LastMarket, lastTime: c.LastTime,
		byID: map[string]*agent{}, seq: c.NextSeq, ticks: c.Ticks, agentTicks: c.AgentTicks,
		round:   roundState{number: c.Round.Number, startTick: c.Round.StartTick},
		winners: c.Winners, lastRound: c.LastRound, spawnSrc: &rand.PCG{}, ledger: sha256.New(), ledgerRecs: c.LedgerRecords,
	}
	for i, s := range cfg.Symbols {
		ar.symIndex[s] = i
		ar.marks[i] = market.Price(c.Marks[i])
	}
	if err := ar.spawnSrc.UnmarshalBinary(c.SpawnRNG); err != nil {
		return nil, fmt.Errorf("%w: spawn source: %w", ErrCheckpoint, err)
	}
	ar.spawnRng = rand.New(ar.spawnSrc)
	if err := ar.ledger.(encoding.BinaryUnmarshaler).UnmarshalBinary(c.Ledger); err != nil {
		return nil, fmt.Errorf("%w: ledger hash: %w", ErrCheckpoint, err)
	}
	for i := range c.Agents {
		a, err := ar.loadAgent(&c.Agents[i])
		if err != nil {
			return nil, fmt.Errorf("%w: agent %s: %w", ErrCheckpoint, c.Agents[i].ID, err)
		}
		if ar.byID[a.id] != nil {
			return nil, fmt.Errorf("%w: agent %s twice", ErrCheckpoint, a.id)
		}
		ar.all = append(ar.all, a)
		ar.byID[a.id] = a
		if !a.dead {
			ar.active = append(ar.active, a)
		}
	}
	for _, id := range c.Round.Departed {
		a := ar.byID[id]
		if a == nil || !a.dead {
			return nil, fmt.Errorf("%w: departed agent %s is not among the dead", ErrCheckpoint, id)
		}
		ar.round.departed = append(ar.round.departed, a)
	}
	ar.startWorkers()
	return ar, nil
}

// checkpoint is the layout of a checkpoint, CheckpointFormat.
type checkpoint struct {
	Format        string          `json:"format"`
	Seed          uint64          `json:"seed"`
	Symbols       []market.Symbol `json:"symbols"`
	MaxAgents     int             `json:"max_agents"`
	RoundTicks    int             `json:"round_ticks"`
	NextSeq       uint64          `json:"next_sequence"`
	Ticks         int64           `json:"ticks"`
	AgentTicks    int64           `json:"agent_ticks"`
	LastTime      time.Time       `json:"last_time"`
	Marks         []int64         `json:"marks"`
	LastMarket    []*MarketEvent  `json:"last_market"`
	Round         ckptRound       `json:"round"`
	Winners       []RoundWinner   `json:"winners"`
	LastRound     *RoundResult    `json:"last_round"`
	SpawnRNG      []byte          `json:"spawn_rng"`
	Ledger        []byte          `json:"ledger"`
	LedgerRecords int64           `json:"ledger_records"`
	Agents        []ckptAgent     `json:"agents"` // every agent, in birth order
}

type ckptRound struct {
	Number    int      `json:"number"`
	StartTick int64    `json:"start_tick"`
	Departed  []string `json:"departed"`
}

// ckptAgent is every field of an agent but the per-tick scratch (out and
// wantSpawn, empty between steps).
type ckptAgent struct {
	ID         string    `json:"id"`
	Strategy   string    `json:"strategy"`
	Params     Params    `json:"params"`
	State      []byte    `json:"strategy_state"`
	Risk       float64   `json:"risk"`
	Generation int       `json:"generation"`
	Parent     string    `json:"parent"`
	Children   int       `json:"children"`
	BornTick   int64     `json:"born_tick"`
	BornSeq    uint64    `json:"born_seq"`
	BornTime   time.Time `json:"born_time"`
	RNG        []byte    `json:"rng"`

	Initial    market.Money   `json:"initial"`
	Cash       market.Money   `json:"cash"`
	Realized   market.Money   `json:"realized"`
	Fees       market.Money   `json:"fees"`
	Endowments market.Money   `json:"endowments"`
	Unreal     market.Money   `json:"unreal"`
	Gross      market.Money   `json:"gross"`
	Pos        []ckptPosition `json:"positions"`
	Pend       []ckptOrder    `json:"orders"`

	Peak       market.Money `json:"peak"`
	DDLevel    market.Money `json:"dd_level"`
	ScarRef    market.Money `json:"scar_ref"`
	MaxDD      market.Rate  `json:"max_dd"`
	DeathLevel market.Money `json:"death_level"`
	FloorLevel market.Money `json:"floor_level"`
	ScarLevel  market.Money `json:"scar_level"`

	Fills      int          `json:"fills"`
	Closed     int          `json:"closed"`
	Wins       int          `json:"wins"`
	GrossWin   market.Money `json:"gross_win"`
	GrossLoss  market.Money `json:"gross_loss"`
	TradeRet   float64      `json:"trade_ret"`
	TradeRetSq float64      `json:"trade_ret_sq"`
	TickRet    float64      `json:"tick_ret"`
	TickRetSq  float64      `json:"tick_ret_sq"`
	TickN      int64        `json:"tick_n"`
	PrevEquity market.Money `json:"prev_equity"`
	Scars      []Scar       `json:"scars"`
	CostMul    market.Rate  `json:"cost_mul"`
	LevMul     market.Rate  `json:"lev_mul"`
	Fee        market.Rate  `json:"fee"`
	Slip       market.Rate  `json:"slip"`
	LevCap     market.Rate  `json:"lev_cap"`
	NoShort    bool         `json:"no_short"`
	HalfSize   bool         `json:"half_size"`
	SinceSpawn int          `json:"since_spawn"`
	Dead       bool         `json:"dead"`
	Death      *DeathEvent  `json:"death"`
	RoundStart market.Money `json:"round_start"`
	RoundPaid  market.Money `json:"round_paid"`
	RoundsWon  int          `json:"rounds_won"`
}

type ckptPosition struct {
	Qty      market.Qty   `json:"qty"`
	Cost     market.Money `json:"cost"`
	Value    market.Money `json:"value"`
	EntryPx  int64        `json:"entry_px"` // a Price refuses zero, a flat position's
	EntryFee market.Money `json:"entry_fee"`
	EntryEq  market.Money `json:"entry_eq"`
}

type ckptOrder struct {
	Active  bool    `json:"active"`
	Side    Side    `json:"side"`
	Size    float64 `json:"size"`
	DecTick int64   `json:"dec_tick"`
	DecSeq  uint64  `json:"dec_seq"`
}

func saveAgent(a *agent) (ckptAgent, error) {
	ss, ok := a.strat.(StrategyState)
	if !ok {
		return ckptAgent{}, fmt.Errorf("%w: agent %s: strategy %s does not implement arena.StrategyState", ErrCheckpoint, a.id, a.spec.Name)
	}
	state, err := ss.MarshalBinary()
	if err != nil {
		return ckptAgent{}, fmt.Errorf("%w: agent %s: strategy state: %w", ErrCheckpoint, a.id, err)
	}
	rng, err := a.src.MarshalBinary()
	if err != nil {
		return ckptAgent{}, fmt.Errorf("%w: agent %s: random source: %w", ErrCheckpoint, a.id, err)
	}
	c := ckptAgent{
		ID: a.id, Strategy: a.spec.Name, Params: a.params, State: state, Risk: a.risk, Generation: a.generation,
		Parent: a.parent, Children: a.children, BornTick: a.bornTick, BornSeq: a.bornSeq, BornTime: a.bornTime, RNG: rng,
		Initial: a.initial, Cash: a.cash, Realized: a.realized, Fees: a.fees, Endowments: a.endowments,
		Unreal: a.unreal, Gross: a.gross,
		Peak: a.peak, DDLevel: a.ddLevel, ScarRef: a.scarRef, MaxDD: a.maxDD,
		DeathLevel: a.deathLevel, FloorLevel: a.floorLevel, ScarLevel: a.scarLevel,
		Fills: a.fills, Closed: a.closed, Wins: a.wins, GrossWin: a.grossWin, GrossLoss: a.grossLoss,
		TradeRet: a.tradeRet, TradeRetSq: a.tradeRetSq, TickRet: a.tickRet, TickRetSq: a.tickRetSq, TickN: a.tickN,
		PrevEquity: a.prevEquity, Scars: slices.Clip(a.scars), CostMul: a.costMul, LevMul: a.levMul,
		Fee: a.fee, Slip: a.slip, LevCap: a.levCap, NoShort: a.noShort, HalfSize: a.halfSize,
		SinceSpawn: a.sinceSpawn, Dead: a.dead, Death: a.death,
		RoundStart: a.roundStart, RoundPaid: a.roundPaid, RoundsWon: a.roundsWon,
	}
	c.Pos = make([]ckptPosition, len(a.pos))
	for i, p := range a.pos {
		c.Pos[i] = ckptPosition{Qty: p.qty, Cost: p.cost, Value: p.value, EntryPx: int64(p.entryPx), EntryFee: p.entryFee, EntryEq: p.entryEq}
	}
	c.Pend = make([]ckptOrder, len(a.pend))
	for i, o := range a.pend {
		c.Pend[i] = ckptOrder{Active: o.active, Side: o.side, Size: o.size, DecTick: o.decTick, DecSeq: o.decSeq}
	}
	return c, nil
}

func (ar *Arena) loadAgent(c *ckptAgent) (*agent, error) {
	n := len(ar.cfg.Symbols)
	if len(c.Pos) != n || len(c.Pend) != n {
		return nil, fmt.Errorf("%d positions and %d orders for %d symbols", len(c.Pos), len(c.Pend), n)
	}
	spec, err := findSpec(ar.specs, c.Strategy)
	if err != nil {
		return nil, err
	}
	strat, err := spec.New(c.Params, n)
	if err != nil {
		return nil, err
	}
	ss, ok := strat.(StrategyState)
	if !ok {
		return nil, fmt.Errorf("strategy %s does not implement arena.StrategyState", spec.Name)
	}
	if err := ss.UnmarshalBinary(c.State); err != nil {
		return nil, fmt.Errorf("strategy state: %w", err)
	}
	src := &rand.PCG{}
	if err := src.UnmarshalBinary(c.RNG); err != nil {
		return nil, fmt.Errorf("random source: %w", err)
	}
	a := &agent{
		id: c.ID, spec: &spec, params: c.Params, strat: strat, risk: c.Risk, generation: c.Generation,
		parent: c.Parent, children: c.Children, bornTick: c.BornTick, bornSeq: c.BornSeq, bornTime: c.BornTime,
		rng: rand.New(src), src: src,
		initial: c.Initial, cash: c.Cash, realized: c.Realized, fees: c.Fees, endowments: c.Endowments,
		unreal: c.Unreal, gross: c.Gross, pos: make([]position, n), pend: make([]order, n),
		peak: c.Peak, ddLevel: c.DDLevel, scarRef: c.ScarRef, maxDD: c.MaxDD,
		deathLevel: c.DeathLevel, floorLevel: c.FloorLevel, scarLevel: c.ScarLevel,
		fills: c.Fills, closed: c.Closed, wins: c.Wins, grossWin: c.GrossWin, grossLoss: c.GrossLoss,
		tradeRet: c.TradeRet, tradeRetSq: c.TradeRetSq, tickRet: c.TickRet, tickRetSq: c.TickRetSq, tickN: c.TickN,
		prevEquity: c.PrevEquity, scars: c.Scars, costMul: c.CostMul, levMul: c.LevMul,
		fee: c.Fee, slip: c.Slip, levCap: c.LevCap, noShort: c.NoShort, halfSize: c.HalfSize,
		sinceSpawn: c.SinceSpawn, dead: c.Dead, death: c.Death,
		roundStart: c.RoundStart, roundPaid: c.RoundPaid, roundsWon: c.RoundsWon,
	}
	for i, p := range c.Pos {
		a.pos[i] = position{qty: p.Qty, cost: p.Cost, value: p.Value, entryPx: market.Price(p.EntryPx), entryFee: p.EntryFee, entryEq: p.EntryEq}
	}
	for i, o := range c.Pend {
		a.pend[i] = order{active: o.Active, side: o.Side, size: o.Size, decTick: o.DecTick, decSeq: o.DecSeq}
	}
	if a.dead != (a.death != nil) {
		return nil, fmt.Errorf("dead %v with death %v", a.dead, a.death)
	}
	return a, nil
}

// EmitCheckpoint emits a checkpoint event, stamped now: c commits the
// state the arena had when its next sequence was c.StateSeq: the next
// one, or one before it. It changes nothing else — not the ledger hash, not an agent — so a
// replay feeds the logged event back through it, as it does a tick.
func (ar *Arena) EmitCheckpoint(now time.Time, c CheckpointEvent) error {
	if ar.err != nil {
		return ar.err
	}
	if c.StateSeq > ar.seq || c.StateSeq < ar.cfg.FirstSeq {
		return fmt.Errorf("%w: state sequence %d is not in [%d, %d]", ErrCheckpoint, c.StateSeq, ar.cfg.FirstSeq, ar.seq)
	}
	if err := ar.publish(Event{Type: EventCheckpoint, Tick: ar.ticks, Checkpoint: &c}, now); err != nil {
		return ar.fail(err)
	}
	return nil
}
