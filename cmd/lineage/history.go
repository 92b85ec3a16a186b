package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/market"
)

// genesisType is the type of record 0 of a data dir's event log.
const genesisType = "genesis"

// genesis is record 0 of the event log: everything that, with the logged
// ticks, determines the run. A restart rebuilds the arena from it.
type genesis struct {
	Version int             `json:"version"`
	Created time.Time       `json:"created"`
	Seed    uint64          `json:"seed"`
	Feed    string          `json:"feed"`
	Symbols []market.Symbol `json:"symbols"`
	Rules   rules           `json:"rules"`
	Roster  []arena.Founder `json:"roster"`
	// Replay feeds: the files and options, so a restart replays the same.
	Replay       []string `json:"replay,omitempty"`
	ReplaySymbol string   `json:"replay_symbol,omitempty"`
	Lenient      bool     `json:"lenient,omitempty"`
}

// rules are the arena.Config numbers in force, defaults filled in; rates in
// parts per million.
type rules struct {
	Fee           market.Rate `json:"fee_ppm"`
	Slippage      market.Rate `json:"slippage_ppm"`
	LeverageCap   market.Rate `json:"leverage_cap_ppm"`
	ScarDrawdown  market.Rate `json:"scar_drawdown_ppm"`
	ScarLoss      market.Rate `json:"scar_loss_ppm"`
	DeathDrawdown market.Rate `json:"death_drawdown_ppm"`
	EquityFloor   market.Rate `json:"equity_floor_ppm"`
	SpawnShare    market.Rate `json:"spawn_share_ppm"`
	MaxAgents     int         `json:"max_agents"`
	RoundTicks    int         `json:"round_ticks"`
}

const genesisVersion = 1

func newGenesis(cfg arena.Config, feed string, roster []arena.Founder, now time.Time) genesis {
	return genesis{
		Version: genesisVersion, Created: now, Seed: cfg.Seed, Feed: feed, Symbols: cfg.Symbols, Roster: roster,
		Rules: rules{
			Fee: cfg.Fee, Slippage: cfg.Slippage, LeverageCap: cfg.LeverageCap, ScarDrawdown: cfg.ScarDrawdown,
			ScarLoss: cfg.ScarLoss, DeathDrawdown: cfg.DeathDrawdown, EquityFloor: cfg.EquityFloor,
			SpawnShare: cfg.SpawnShare, MaxAgents: cfg.MaxAgents, RoundTicks: cfg.RoundTicks,
		},
	}
}

// config is the arena configuration the genesis record describes. Zero
// rates are stored as such and mean "none", not "default".
func (g genesis) config() arena.Config {
	none := func(r market.Rate) market.Rate {
		if r == 0 {
			return -1
		}
		return r
	}
	return arena.Config{
		Symbols: g.Symbols, Seed: g.Seed, Fee: none(g.Rules.Fee), Slippage: none(g.Rules.Slippage),
		LeverageCap: g.Rules.LeverageCap, ScarDrawdown: g.Rules.ScarDrawdown, ScarLoss: g.Rules.ScarLoss,
		DeathDrawdown: g.Rules.DeathDrawdown, EquityFloor: g.Rules.EquityFloor, SpawnShare: g.Rules.SpawnShare,
		MaxAgents: g.Rules.MaxAgents, RoundTicks: g.Rules.RoundTicks, FirstSeq: 1,
	}
}

// committed is an event that is durable, with its record's hash.
type committed struct {
	event arena.Event
	hash  [32]byte
}

// history is the arena's sink when a data dir keeps the run: every event
// is appended to the log as JSON, and handed to the observers only after
// Commit has made it durable. Nothing is shown, counted or broadcast before
// it is on disk.
//
// A write failure does not lose an event the arena emitted: an event the
// log refuses (it is in its failed state, see eventlog.Log) waits in
// queued, in order, and Commit appends it once a Sync has repaired the log.
// Commit fails until every event emitted is durable; the caller emits
// nothing new meanwhile, so what waits is at most one time step.
type history struct {
	log       *eventlog.Log
	pending   []committed   // appended, not yet durable
	queued    []arena.Event // emitted, not yet appended: the log failed
	observers []func(committed)
	// batchObservers see each commit's events together, after observers.
	batchObservers []func([]committed)
}

func (h *history) Emit(e arena.Event) error {
	if len(h.queued) > 0 {
		h.queued = append(h.queued, e)
		return nil
	}
	err := h.append(e)
	if errors.Is(err, eventlog.ErrWriteFailed) {
		h.queued = append(h.queued, e)
		return nil
	}
	return err
}

// append appends e to the log and to pending.
func (h *history) append(e arena.Event) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	hash, err := h.log.Append(e.Seq, e.Time, string(e.Type), payload)
	if err != nil {
		return fmt.Errorf("append event %d: %w", e.Seq, err)
	}
	h.pending = append(h.pending, committed{event: e, hash: hash})
	return nil
}

// Commit makes every event emitted so far durable (one fsync: group
// commit), then hands them to the observers in order. An error wrapping
// eventlog.ErrWriteFailed leaves every event not yet durable where it was,
// and Commit may be called again.
func (h *history) Commit() error {
	if len(h.queued) > 0 {
		// The log failed: repair it, then append what it refused.
		if err := h.log.Sync(); err != nil {
			return err
		}
		for len(h.queued) > 0 {
			if err := h.append(h.queued[0]); err != nil {
				return err
			}
			h.queued[0] = arena.Event{}
			h.queued = h.queued[1:]
		}
		h.queued = nil
	}
	if err := h.log.Sync(); err != nil {
		return err
	}
	for _, c := range h.pending {
		for _, o := range h.observers {
			o(c)
		}
	}
	if len(h.pending) > 0 {
		for _, o := range h.batchObservers {
			o(h.pending)
		}
	}
	clear(h.pending)
	h.pending = h.pending[:0]
	return nil
}

// decodeGenesis reads the genesis record.
func decodeGenesis(rec eventlog.Record) (genesis, error) {
	var g genesis
	if rec.Type != genesisType {
		return g, fmt.Errorf("%w: record 0 is a %q, not the genesis record", eventlog.ErrCorrupt, rec.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return g, fmt.Errorf("%w: genesis record: %v", eventlog.ErrCorrupt, err)
	}
	if g.Version != genesisVersion {
		return g, fmt.Errorf("genesis record version %d; this build reads version %d", g.Version, genesisVersion)
	}
	return g, nil
}

// rebuilder rebuilds the run a log holds, in the one pass eventlog.Open
// makes over it: record 0 founds the arena (through found); each logged
// market tick and agent-state point is fed back to it; every event the
// arena computes is checked against the record that follows, market events
// field by field and all others byte for byte. What the arena computes past
// the log's end — a tick a crash cut short — is kept to be appended.
type rebuilder struct {
	found  func(genesis, arena.Sink) (*arena.Arena, error)
	g      genesis
	ar     *arena.Arena
	queue  []arena.Event // computed, not yet matched with a record
	head   int
	market arena.MarketEvent // the market record being replayed
	deaths []committed       // every death, with its record's hash
	// seen, if set, is called with every event checked against the log.
	seen func(committed)
}

func (rb *rebuilder) Emit(e arena.Event) error {
	rb.queue = append(rb.queue, e)
	return nil
}

func (rb *rebuilder) visit(rec eventlog.Record) error {
	if rec.Seq == 0 {
		g, err := decodeGenesis(rec)
		if err != nil {
			return err
		}
		rb.g = g
		rb.ar, err = rb.found(g, rb)
		return err
	}
	if rb.head == len(rb.queue) {
		rb.queue, rb.head = rb.queue[:0], 0
		var err error
		switch rec.Type {
		case string(arena.EventMarket):
			m, derr := decodeMarket(rec.Payload)
			if derr != nil {
				return fmt.Errorf("%w: record %d: a market event that does not decode: %v", eventlog.ErrCorrupt, rec.Seq, derr)
			}
			rb.market = *m
			err = rb.ar.Step(market.Tick{Symbol: m.Symbol, Price: m.Price, Time: rec.Time, Source: m.Source, Stale: m.Stale})
		case string(arena.EventAgent):
			err = rb.ar.EmitAgentStates(rec.Time)
		}
		if err != nil {
			return fmt.Errorf("replay at sequence %d: %w", rec.Seq, err)
		}
		if len(rb.queue) == 0 {
			return fmt.Errorf("%w: replay diverged at sequence %d: the log holds a %s event the arena did not produce",
				eventlog.ErrCorrupt, rec.Seq, rec.Type)
		}
	}
	e := rb.queue[rb.head]
	rb.queue[rb.head] = arena.Event{}
	rb.head++
	return rb.check(rec, e)
}

func (rb *rebuilder) check(rec eventlog.Record, e arena.Event) error {
	diverged := func() error {
		return fmt.Errorf("%w: replay diverged at sequence %d: the log holds a %s event, this build computes a %s event"+
			" (the data dir was written by another build, or altered)", eventlog.ErrCorrupt, rec.Seq, rec.Type, e.Type)
	}
	if rec.Seq != e.Seq || rec.Type != string(e.Type) || !rec.Time.Equal(e.Time) {
		return diverged()
	}
	if e.Market != nil {
		// A market event is the tick the replay fed in: its fields, checked
		// one by one, are as strong a check as its bytes and much cheaper.
		if *e.Market != rb.market {
			return diverged()
		}
		return nil
	}
	if rb.seen != nil {
		defer rb.seen(committed{event: e, hash: rec.Hash})
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if !bytes.Equal(rec.Payload, payload) {
		return diverged()
	}
	if e.Death != nil {
		rb.deaths = append(rb.deaths, committed{event: e, hash: rec.Hash})
	}
	return nil
}

// complete appends the events computed past the log's end, so the log never
// holds part of a tick, and returns how many there were. The caller commits.
func (rb *rebuilder) complete(h *history) (int, error) {
	rest := rb.queue[rb.head:]
	for _, e := range rest {
		// Not Emit: at start a write failure is the start's failure.
		if err := h.append(e); err != nil {
			return 0, err
		}
		if e.Death != nil {
			rb.deaths = append(rb.deaths, h.pending[len(h.pending)-1])
		}
	}
	rb.queue, rb.head = nil, 0
	return len(rest), nil
}
