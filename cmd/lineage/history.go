package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
type history struct {
	log       *eventlog.Log
	pending   []committed
	observers []func(committed)
}

func (h *history) Emit(e arena.Event) error {
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
// commit), then hands them to the observers in order.
func (h *history) Commit() error {
	if err := h.log.Sync(); err != nil {
		return err
	}
	for _, c := range h.pending {
		for _, o := range h.observers {
			o(c)
		}
	}
	clear(h.pending)
	h.pending = h.pending[:0]
	return nil
}

// readGenesis reads record 0 of l.
func readGenesis(l *eventlog.Log) (genesis, error) {
	it := l.Iter(0)
	defer it.Close()
	rec, err := it.Next()
	if err != nil {
		return genesis{}, fmt.Errorf("read genesis record: %w", err)
	}
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

// replayer rebuilds an arena from a log: it feeds the logged ticks and
// agent-state points back to the arena and checks that every event the
// arena produces equals, byte for byte, the one the log holds. Events the
// log lacks at its very end (a tick whose events were cut short by a crash)
// are appended, completing the tick.
type replayer struct {
	it      *eventlog.Iter
	peeked  *eventlog.Record
	h       *history
	appends int
	deaths  []committed        // every death replayed or appended, with its record's hash
	market  *arena.MarketEvent // the logged market event being replayed
}

func (r *replayer) peek() (*eventlog.Record, error) {
	if r.peeked == nil {
		rec, err := r.it.Next()
		if err != nil {
			return nil, err
		}
		rec.Payload = bytes.Clone(rec.Payload)
		r.peeked = &rec
	}
	return r.peeked, nil
}

func (r *replayer) Emit(e arena.Event) error {
	rec, err := r.peek()
	if errors.Is(err, io.EOF) {
		r.appends++
		if err := r.h.Emit(e); err != nil {
			return err
		}
		if e.Death != nil {
			r.deaths = append(r.deaths, r.h.pending[len(r.h.pending)-1])
		}
		return nil
	}
	if err != nil {
		return err
	}
	r.peeked = nil
	if rec.Seq != e.Seq || rec.Type != string(e.Type) || !rec.Time.Equal(e.Time) {
		return r.diverged(rec, e)
	}
	if e.Market != nil {
		// A market event is the tick the replay fed in: its fields, checked
		// one by one, are as strong a check as its bytes and much cheaper.
		if m := r.market; m == nil || *m != *e.Market {
			return r.diverged(rec, e)
		}
		return nil
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if !bytes.Equal(rec.Payload, payload) {
		return r.diverged(rec, e)
	}
	if e.Death != nil {
		r.deaths = append(r.deaths, committed{event: e, hash: rec.Hash})
	}
	return nil
}

func (r *replayer) diverged(rec *eventlog.Record, e arena.Event) error {
	return fmt.Errorf("%w: replay diverged at sequence %d: the log holds a %s event, this build computes a %s event"+
		" (the data dir was written by another build, or altered)", eventlog.ErrCorrupt, rec.Seq, rec.Type, e.Type)
}

// replay drives ar through the log from record 1 on; r counts the events
// it had to append to complete a cut-short tick.
func replay(ar *arena.Arena, r *replayer) error {
	for {
		rec, err := r.peek()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch rec.Type {
		case string(arena.EventMarket):
			m, err := decodeMarket(rec.Payload)
			if err != nil {
				return fmt.Errorf("%w: record %d: a market event that does not decode: %v", eventlog.ErrCorrupt, rec.Seq, err)
			}
			r.market = m
			err = ar.Step(market.Tick{Symbol: m.Symbol, Price: m.Price, Time: rec.Time, Source: m.Source, Stale: m.Stale})
			r.market = nil
		case string(arena.EventAgent):
			err = ar.EmitAgentStates(rec.Time)
		default:
			return fmt.Errorf("%w: replay diverged at sequence %d: the log holds a %s event the arena did not produce", eventlog.ErrCorrupt, rec.Seq, rec.Type)
		}
		if err != nil {
			return fmt.Errorf("replay at sequence %d: %w", rec.Seq, err)
		}
	}
}
