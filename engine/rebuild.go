package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

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
	// restore rebuilds the arena from a checkpoint (arena.Restore), with
	// the same sink as found.
	restore func(Genesis, []byte, arena.Sink) (*arena.Arena, error)
	// plan, set when the data dir holds checkpoints, makes the scan only
	// collect; finish rebuilds from a checkpoint and the tail.
	plan    *restartPlan
	fromSeq uint64 // the state sequence of the checkpoint rebuilt from; 1: none
	// older are the deaths before the checkpoint rebuilt from that the
	// rebuild did not read (agent → its death's sequence).
	older map[string]uint64
	log   *slog.Logger
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
	if rb.plan != nil {
		return rb.collect(rec)
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
		case string(arena.EventCheckpoint):
			// A checkpoint event is an input, as a tick is: fed back, it
			// must give the same record.
			var ev arena.Event
			if derr := json.Unmarshal(rec.Payload, &ev); derr != nil || ev.Checkpoint == nil {
				return fmt.Errorf("%w: record %d: a checkpoint event that does not decode", eventlog.ErrCorrupt, rec.Seq)
			}
			err = rb.ar.EmitCheckpoint(rec.Time, *ev.Checkpoint)
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
