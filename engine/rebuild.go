package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/market"
)

// rebuilder rebuilds the run a log holds, in the one pass eventlog.Open
// makes over it: record 0 founds the arena (through found); each logged
// market tick and agent-state point is fed back to it; every event the
// arena computes is checked against the record that follows, market events
// field by field and all others byte for byte. What the arena computes past
// the log's end — a tick a crash cut short — is kept to be appended.
type rebuilder struct {
	found  func(Genesis, arena.Sink) (*arena.Arena, error)
	g      Genesis
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

// interruptible wraps a log visitor so that a cancelled ctx stops a long
// rebuild within a thousand records: the log is only read, and stays as it
// was. The error it ends with wraps ctx.Err().
func interruptible(ctx context.Context, visit func(eventlog.Record) error) func(eventlog.Record) error {
	return func(rec eventlog.Record) error {
		if rec.Seq%1024 == 0 && ctx.Err() != nil {
			return fmt.Errorf("rebuild stopped at record %d: %w", rec.Seq, ctx.Err())
		}
		return visit(rec)
	}
}

// Audit is what Verify found in a data dir's event log.
type Audit struct {
	// Records is the number of records, the genesis included.
	Records uint64
	// Pending is the bytes after the last whole record: a write in
	// progress, or a torn tail the next Open truncates.
	Pending int64
	// Dead holds every agent whose death the log records.
	Dead map[string]bool
}

// Verify checks the event log of the data dir dir without changing it: it
// takes no lock and repairs nothing, so it runs beside an Engine that has
// dir open. Every record is checked as Open checks it — checksum, hash,
// chain, and the run replayed from its genesis with each record compared
// with what the arena computes — so a record with a valid chain that the
// run did not produce fails here as it fails there. A cancelled ctx stops
// it within a thousand records. The graveyard is the caller's to check
// against Audit.Dead (graveyard.Check). strategies are Config.Strategies.
func Verify(ctx context.Context, dir string, strategies ...arena.StrategySpec) (Audit, error) {
	rb := &rebuilder{found: func(g Genesis, s arena.Sink) (*arena.Arena, error) {
		return Config{Dir: dir, Strategies: strategies}.newArena(g, s)
	}}
	defer func() {
		if rb.ar != nil {
			rb.ar.Close()
		}
	}()
	l, err := eventlog.OpenReadOnly(filepath.Join(dir, "events"), eventlog.Options{Visit: interruptible(ctx, rb.visit)})
	if err != nil {
		return Audit{}, err
	}
	defer l.Close()
	a := Audit{Pending: l.Pending(), Dead: make(map[string]bool, len(rb.deaths))}
	a.Records, _ = l.Last()
	for _, c := range rb.deaths {
		a.Dead[c.event.Death.Agent] = true
	}
	return a, nil
}
