// Package engine runs a Lineage arena live and durably: it owns a data
// dir — the hash-chained event log, the graveyard of signed tombstones and
// its key — founds a new run in it or rebuilds the run it holds, steps the
// arena from a tick source on a clock, commits each time step to disk (one
// fsync a step) and only then hands the step to its subscribers, in order.
//
// A program embeds a live run in four calls:
//
//	e, err := engine.Open(ctx, engine.Config{Dir: dir, Found: found})
//	defer e.Close()
//	e.Subscribe(func(s engine.Step) { /* durable events, their hashes, the snapshot after them */ })
//	err = e.Run(ctx, engine.Feed{Source: src})
//
// What reads the run — a WebSocket hub, an HTTP API, metrics — reads the
// engine (Snapshot, History, Trades, Graveyard, LogStats, WriteFailure) or
// subscribes to it, never the arena: nothing is shown, counted, broadcast
// or buried before it is durable.
//
// Guarantees: sequence numbers are gap-free and never reused, across write
// failures and restarts; a restart restores the newest checkpoint that
// verifies (or starts from the genesis record without one), recomputes every
// logged event after it from the logged ticks, and refuses a log that
// differs (Verify and VerifyReplay check the whole chain and every
// checkpoint); the dead stay dead, each with a signed tombstone that is
// never overwritten.
package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/graveyard"
	"github.com/lineage-arena/lineage/market"
)

// Config configures an Engine. The zero value of every field but Dir is
// its documented default.
type Config struct {
	// Dir is the data dir: events/ (the event log), graveyard/ and
	// graveyard.key. Required; made, mode 0700, if missing. One Engine at a
	// time may have a data dir open (eventlog.ErrLocked).
	Dir string
	// Found describes the run to found when Dir holds none: Open calls it
	// once, then, and writes the genesis record. Nil: Open refuses a data
	// dir without a run (ErrNoRun).
	Found func() (Founding, error)
	// Stored, if set, is called with the genesis record of the run Dir
	// holds, before the run is rebuilt; an error it returns is Open's, and
	// nothing is rebuilt. A data dir holds one run: this is where a caller
	// refuses a configuration that contradicts it.
	Stored func(Genesis) error
	// Strategies are the strategies of the caller's own that a run's
	// roster may name, beside arena.Builtin(). A new run is founded with
	// them (added to Founding.Arena.Strategies); a stored run is rebuilt
	// with them, and refused with ErrStrategyMissing if its roster names
	// one that is missing. Register the same strategies, by the same
	// names and with the same behaviour, every time the data dir is
	// opened: the rebuild recomputes every event. Nil: the built-ins only.
	Strategies []arena.StrategySpec
	// TickInterval is the time between market steps of a source Run paces
	// (see Feed.Live). Default 5s.
	TickInterval time.Duration
	// AgentInterval is the time between two emissions of every agent's
	// state. Default 10s.
	AgentInterval time.Duration
	// Logger receives the run's life — founded, resumed, deaths, births,
	// rounds, buried, a write failing and recovering (info), trades and
	// agent states (debug). Nil discards it.
	Logger *slog.Logger
	// Clock stamps the genesis record and the ticks of a paced source.
	// Nil means time.Now.
	Clock func() time.Time
	// CheckpointSteps and CheckpointInterval set how often Run writes a
	// checkpoint of the arena's state (checkpoints/<seq>.ckpt, committed
	// by its SHA-256 in the hash chain; see docs/eventlog.md), so that a
	// restart replays only the log's tail: every CheckpointSteps committed
	// steps or CheckpointInterval, whichever comes first. Defaults 10,000
	// steps and 10 minutes; a negative value turns its trigger off, both
	// negative turn checkpoints off.
	CheckpointSteps    int
	CheckpointInterval time.Duration
	// Fault, if set, is asked before each write to disk — the event log's
	// "write", "fsync", "segment" and "mark" (see eventlog.Options.Fault),
	// the graveyard's "tombstone" and a checkpoint file's "checkpoint" — and an error it returns is taken as
	// that write's failure. A seam for tests of a failing disk; nil
	// otherwise.
	Fault func(op string) error

	segmentBytes int64 // eventlog.Options.SegmentBytes, for tests
}

func (c Config) withDefaults() Config {
	if c.TickInterval <= 0 {
		c.TickInterval = 5 * time.Second
	}
	if c.AgentInterval <= 0 {
		c.AgentInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// ErrNoRun is returned by Open for a data dir that holds no run when
// Config.Found is nil.
var ErrNoRun = errors.New("the data dir holds no run")

// ErrClosed is returned by Run on a closed Engine.
var ErrClosed = errors.New("engine closed")

// Step is one committed time step: its events, durable, in sequence
// order; Hashes[i] is the hash of Events[i]'s record in the log; Snapshot
// is the arena after the step. Subscribers share a Step: they must not
// modify it.
type Step struct {
	Events   []arena.Event
	Hashes   [][32]byte
	Snapshot *arena.Snapshot
}

// Engine is a live, durable run open on a data dir. Run steps it; the
// readers (Snapshot, History, Trades, Graveyard, LogStats, WriteFailure,
// Genesis) may be called from any goroutine, at any time until Close.
type Engine struct {
	cfg     Config
	g       Genesis
	log     *eventlog.Log
	ar      *arena.Arena
	h       *history
	u       *undertaker
	trades  *tradeBook
	ckpt    *checkpointer // nil: checkpoints off
	hist    *History
	snap    atomic.Pointer[arena.Snapshot]
	failing atomic.Pointer[error] // the write failure holding the arena

	mu      sync.Mutex
	subs    []func(Step)
	closed  bool
	cancel  context.CancelFunc // of the Run going on, nil when none
	running sync.WaitGroup     // Run
	once    sync.Once
	err     error // Close's
}

// Open opens the data dir cfg.Dir. A data dir without a run gets one:
// the run cfg.Found describes, its genesis record durable before Open
// returns. A data dir with a run has it rebuilt: the log is read once, its
// checksums and hash chain checked, and every logged tick replayed through
// a fresh arena whose every event must be the one the log holds (else an
// error wrapping eventlog.ErrCorrupt names the sequence); a tick a crash
// cut short is completed, and the deaths whose tombstone a crash lost are
// buried. A graveyard that cannot be trusted — its key missing for a run
// with events, a tombstone tampered with, malformed or for an agent alive —
// is refused with the defect named.
//
// A cancelled ctx stops a long rebuild within a thousand records, and a
// founding before its genesis is written: the data dir is left as it was
// and the error wraps ctx.Err().
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("open engine: Config.Dir is empty")
	}
	started := cfg.Clock()
	e := &Engine{cfg: cfg, trades: newTradeBook()}
	sink := &switchSink{}
	rb := &rebuilder{seen: e.trades.observe, found: func(g Genesis, s arena.Sink) (*arena.Arena, error) {
		if cfg.Stored != nil {
			if err := cfg.Stored(g); err != nil {
				return nil, err
			}
		}
		ac, err := cfg.arenaConfig(g)
		if err != nil {
			return nil, err
		}
		sink.to = s
		return arena.New(ac, g.Roster, sink)
	}, restore: func(g Genesis, data []byte, s arena.Sink) (*arena.Arena, error) {
		ac, err := cfg.arenaConfig(g)
		if err != nil {
			return nil, err
		}
		sink.to = s
		return arena.Restore(ac, data, sink)
	}, log: cfg.Logger}
	if err := rb.planRestart(cfg.Dir, true); err != nil {
		return nil, err
	}
	l, err := eventlog.Open(filepath.Join(cfg.Dir, "events"), eventlog.Options{
		Logger: cfg.Logger, Visit: interruptible(ctx, rb.visit), Fault: cfg.Fault, TrustBefore: rb.plan.oldest(), SegmentBytes: cfg.segmentBytes,
	})
	if err == nil {
		if err = rb.finish(ctx, l); err != nil {
			l.Close()
		}
	}
	if err != nil {
		if rb.ar != nil {
			rb.ar.Close()
		}
		return nil, err
	}
	e.log = l
	e.h = &history{log: l}
	var deaths []committed
	if rb.ar == nil {
		err = e.found(ctx)
	} else {
		e.ar, e.g = rb.ar, rb.g
		sink.to = e.h
		err = e.resume(rb, started)
		deaths = rb.deaths
		if err == nil {
			deaths, err = e.olderDeaths(deaths, rb.older)
		}
	}
	if err == nil {
		err = e.bury(deaths)
	}
	if err != nil {
		if e.ar != nil {
			e.ar.Close()
		}
		l.Close()
		return nil, err
	}
	e.h.observers = []func(committed){logEvent(cfg.Logger), e.u.bury, e.trades.observe}
	e.h.batch = e.publish
	e.hist = newHistory(l)
	e.ckpt = newCheckpointer(cfg)
	if e.ckpt != nil {
		e.ckpt.trades = e.trades.snapshot
	}
	e.snap.Store(e.ar.Snapshot())
	return e, nil
}

// found founds a new run in an empty log: record 0 is its genesis.
// A cancelled ctx before the genesis is durable leaves the log empty.
func (e *Engine) found(ctx context.Context) error {
	if e.cfg.Found == nil {
		return fmt.Errorf("%s: %w", e.cfg.Dir, ErrNoRun)
	}
	f, err := e.cfg.Found()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("found a run: %w", err)
	}
	ac := f.Arena
	ac.FirstSeq = 1
	ac.Strategies = append(ac.Strategies[:len(ac.Strategies):len(ac.Strategies)], e.cfg.Strategies...)
	ar, err := arena.New(ac, f.Roster, e.h)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		ar.Close()
		return fmt.Errorf("found a run: %w", err)
	}
	now := e.cfg.Clock().UTC()
	e.g = newGenesis(ar.Config(), f, now)
	payload, err := json.Marshal(e.g)
	if err == nil {
		_, err = e.log.Append(0, now, genesisType, payload)
	}
	if err == nil {
		err = e.log.Sync()
	}
	if err != nil {
		ar.Close()
		return fmt.Errorf("write genesis record: %w", err)
	}
	e.ar = ar
	e.cfg.Logger.Info("arena founded", "data_dir", filepath.Dir(e.log.Dir()), "feed", f.Feed, "symbols", joinSymbols(ac.Symbols),
		"agents", len(f.Roster), "seed", ac.Seed)
	return nil
}

// resume carries on the run rb rebuilt while the log was opened: the
// events of a tick cut short are completed.
func (e *Engine) resume(rb *rebuilder, started time.Time) error {
	completed, err := rb.complete(e.h)
	if err == nil {
		err = e.h.Commit()
	}
	if err != nil {
		return fmt.Errorf("complete the last tick: %w", err)
	}
	e.cfg.Logger.Info("arena resumed", "data_dir", filepath.Dir(e.log.Dir()), "next_sequence", e.ar.NextSeq(), "ticks", e.ar.Ticks(),
		"living", e.ar.Living(), "completed_events", completed, "checkpoint", rb.fromSeq, "rebuild", e.cfg.Clock().Sub(started).Round(time.Millisecond),
		"seed", rb.g.Seed, "ledger_hash", e.ar.LedgerHash())
	return nil
}

// olderDeaths adds to deaths those of older, the deaths before the
// checkpoint rebuilt from that the rebuild did not read (agent → sequence),
// each read from the log — only those whose tombstone is missing; the
// others need only their agent for the graveyard's check, and a tombstone
// that exists is never rewritten.
func (e *Engine) olderDeaths(deaths []committed, older map[string]uint64) ([]committed, error) {
	if len(older) == 0 {
		return deaths, nil
	}
	gy := filepath.Join(e.cfg.Dir, "graveyard")
	for id, seq := range older {
		if _, err := os.Stat(filepath.Join(gy, id+graveyard.Ext)); err == nil {
			deaths = append(deaths, committed{event: arena.Event{Type: arena.EventDeath, Seq: seq, Death: &arena.DeathEvent{Agent: id, Seq: seq}}, buried: true})
			continue
		}
		c, err := e.readDeath(seq)
		if err != nil {
			return nil, err
		}
		deaths = append(deaths, c)
	}
	slices.SortFunc(deaths, func(a, b committed) int { return cmp.Compare(a.event.Seq, b.event.Seq) })
	return deaths, nil
}

// readDeath reads the death event of record seq from the log.
func (e *Engine) readDeath(seq uint64) (committed, error) {
	it := e.log.Iter(seq)
	defer it.Close()
	rec, err := it.Next()
	if err != nil {
		return committed{}, fmt.Errorf("read death %d: %w", seq, err)
	}
	var ev arena.Event
	if err := json.Unmarshal(rec.Payload, &ev); err != nil || rec.Seq != seq || ev.Death == nil || ev.Seq != seq {
		return committed{}, fmt.Errorf("%w: record %d is not the death the checkpoint names", eventlog.ErrCorrupt, seq)
	}
	return committed{event: ev, hash: rec.Hash}, nil
}

// bury checks the graveyard against the deaths the log holds and buries
// those whose tombstone a crash lost. A tombstone that cannot be written
// now is retried, the arena held, once Run starts.
func (e *Engine) bury(deaths []committed) error {
	u, err := newUndertaker(e.cfg.Dir, e.ar, deaths, e.cfg.Logger)
	if err != nil {
		return err
	}
	u.fault = e.cfg.Fault
	for _, c := range deaths {
		if !c.buried {
			u.bury(c)
		}
	}
	if u.err != nil {
		return u.err
	}
	e.u = u
	return nil
}

// publish is the history's batch observer: each commit's events, with the
// snapshot after them, go to the subscribers.
func (e *Engine) publish(cs []committed) {
	snap := e.ar.Snapshot()
	e.snap.Store(snap)
	e.mu.Lock()
	subs := e.subs
	e.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	s := Step{Events: make([]arena.Event, len(cs)), Hashes: make([][32]byte, len(cs)), Snapshot: snap}
	for i, c := range cs {
		s.Events[i], s.Hashes[i] = c.event, c.hash
	}
	for _, fn := range subs {
		fn(s)
	}
}

// Subscribe has fn called with every step committed from now on, in
// order, once it is durable. fn runs on Run's goroutine, between steps:
// it must return quickly (hand the step on; a hub queues it), and must not
// call Run or Close. Subscribe may be called at any time; subscribe before
// Run to see every step.
func (e *Engine) Subscribe(fn func(Step)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = append(e.subs[:len(e.subs):len(e.subs)], fn)
}

// Genesis is the run's genesis record: what it was founded with.
func (e *Engine) Genesis() Genesis { return e.g }

// Snapshot is the arena after the last committed step.
func (e *Engine) Snapshot() *arena.Snapshot { return e.snap.Load() }

// History reads the durable events back from the log.
func (e *Engine) History() *History { return e.hist }

// Trades returns a copy of the agent id's most recent durable fills
// (at most RecentTrades), oldest first.
func (e *Engine) Trades(id string) []Trade { return e.trades.recent(id) }

// Graveyard lists the dead's tombstones, each checked against its
// signature, oldest death first.
func (e *Engine) Graveyard() ([]graveyard.Tombstone, error) {
	return graveyard.List(e.u.dir, e.u.key)
}

// LogStats are the event log's counters.
func (e *Engine) LogStats() eventlog.Stats { return e.log.Stats() }

// WriteFailure is the write failure holding the arena (see Run), nil
// while writes succeed.
func (e *Engine) WriteFailure() error {
	if p := e.failing.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops a Run going on and waits for it to return, then closes the
// arena and the event log, releasing the data dir. It is idempotent; every
// call returns the first one's result.
func (e *Engine) Close() error {
	e.once.Do(func() {
		e.mu.Lock()
		e.closed = true
		cancel := e.cancel
		e.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		e.running.Wait()
		e.ar.Close()
		e.err = e.log.Close()
	})
	return e.err
}

// switchSink forwards to a sink that can change between ticks: the
// rebuilder while a run is rebuilt, the history afterwards.
type switchSink struct{ to arena.Sink }

func (s *switchSink) Emit(e arena.Event) error { return s.to.Emit(e) }

func joinSymbols(syms []market.Symbol) string {
	parts := make([]string, len(syms))
	for i, s := range syms {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}
