// Package arena is Lineage's domain: agents that trade a price feed with
// exact money, take permanent scars, die irreversibly and breed offspring,
// competing in rounds. Every change is an Event with a global sequence
// number, emitted to a Sink.
//
// The arena is deterministic: the same Config (Seed included), roster and
// ticks give the same events and the same LedgerHash on every machine and
// for any number of workers. Agents advance in parallel within a tick, then
// their events are sequenced in agent order on the caller's goroutine.
package arena

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// Errors callers branch on.
var (
	// ErrTick reports a tick the arena cannot take: an unknown symbol, a
	// non-positive price or time running backwards. The arena is unchanged.
	ErrTick = errors.New("bad tick")
	// ErrRoster reports an invalid founding roster.
	ErrRoster = errors.New("roster")
	// ErrClosed is returned by Step after Close, or after a Sink error
	// stopped the arena half-way through a tick.
	ErrClosed = errors.New("arena closed")
)

// TickSource yields ticks in time order; Next returns io.EOF at the end.
type TickSource interface {
	Next(ctx context.Context) (market.Tick, error)
}

// Arena runs a competition. Its methods must be called from one goroutine
// at a time; Close stops its workers and must be called when done.
type Arena struct {
	cfg        Config
	specs      []StrategySpec
	sink       Sink
	symIndex   map[market.Symbol]int
	marks      []market.Price
	lastMarket []*MarketEvent // the latest market event per symbol
	lastTime   time.Time

	all    []*agent // every agent ever born, in birth order
	active []*agent // the living, in birth order
	byID   map[string]*agent

	seq        uint64 // sequence number of the next event
	ticks      int64  // ticks processed
	agentTicks int64  // Σ over ticks of the agents alive at the tick
	round      roundState
	winners    []RoundWinner
	lastRound  *RoundResult
	spawnRng   *rand.Rand
	spawnSrc   *rand.PCG // spawnRng's source, kept for checkpoints
	ledger     hash.Hash
	ledgerBuf  []byte
	ledgerRecs int64

	pool    *pool
	touched [][]int32 // per chunk: indices into active with work to settle
	err     error
}

// New founds an arena with the given roster. sink receives every event;
// nil discards them.
func New(cfg Config, roster []Founder, sink Sink) (*Arena, error) {
	if len(roster) == 0 {
		return nil, fmt.Errorf("%w: no founders", ErrRoster)
	}
	cfg = cfg.withDefaults(len(roster))
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		sink = SinkFunc(func(Event) error { return nil })
	}
	ar := &Arena{
		cfg:        cfg,
		specs:      append(Builtin(), cfg.Strategies...),
		sink:       sink,
		symIndex:   make(map[market.Symbol]int, len(cfg.Symbols)),
		marks:      make([]market.Price, len(cfg.Symbols)),
		lastMarket: make([]*MarketEvent, len(cfg.Symbols)),
		byID:       map[string]*agent{},
		seq:        cfg.FirstSeq,
		spawnSrc:   rand.NewPCG(cfg.Seed, 0x737061776e), // "spawn"
		ledger:     sha256.New(),
	}
	ar.spawnRng = rand.New(ar.spawnSrc)
	for i, s := range cfg.Symbols {
		ar.symIndex[s] = i
	}
	for _, f := range roster {
		if err := ar.found(f); err != nil {
			return nil, err
		}
	}
	ar.startWorkers()
	ar.startRound()
	return ar, nil
}

// startWorkers starts the worker pool of the parallel phase.
func (ar *Arena) startWorkers() {
	workers := ar.cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ar.touched = make([][]int32, workers)
	if workers > 1 {
		ar.pool = newPool(workers - 1)
	}
}

func (ar *Arena) found(f Founder) error {
	if !validName(f.Name) {
		return fmt.Errorf("%w: invalid agent name %q: want a letter then up to 39 letters, digits, '_' or '-'", ErrRoster, f.Name)
	}
	if ar.byID[f.Name] != nil {
		return fmt.Errorf("%w: duplicate agent name %q", ErrRoster, f.Name)
	}
	capital := f.Capital
	if capital == 0 {
		capital = DefaultCapital
	}
	if capital < 0 {
		return fmt.Errorf("%w: agent %s: capital %v must be positive", ErrRoster, f.Name, capital)
	}
	spec, err := findSpec(ar.specs, f.Strategy)
	if err != nil {
		return fmt.Errorf("%w: agent %s: %w", ErrRoster, f.Name, err)
	}
	params, err := spec.resolve(f.Params)
	if err != nil {
		return fmt.Errorf("%w: agent %s: %w", ErrRoster, f.Name, err)
	}
	a, err := ar.newAgent(f.Name, &spec, params, capital)
	if err != nil {
		return fmt.Errorf("%w: agent %s: %w", ErrRoster, f.Name, err)
	}
	ar.add(a)
	return nil
}

// DefaultRisk is the position size of a strategy without a "risk" param.
const DefaultRisk = 0.25

func (ar *Arena) newAgent(id string, spec *StrategySpec, params Params, capital market.Money) (*agent, error) {
	strat, err := spec.New(params, len(ar.cfg.Symbols))
	if err != nil {
		return nil, err
	}
	risk, ok := params["risk"]
	if !ok {
		risk = DefaultRisk
	}
	n := len(ar.cfg.Symbols)
	src := rand.NewPCG(ar.cfg.Seed, fnv64(id))
	a := &agent{
		id: id, spec: spec, params: params, strat: strat, risk: risk,
		rng: rand.New(src), src: src,
		initial: capital, cash: capital, peak: capital, scarRef: capital, prevEquity: capital,
		pos: make([]position, n), pend: make([]order, n),
		costMul: market.RateScale, levMul: market.RateScale,
		bornTick: ar.ticks, bornSeq: ar.seq, bornTime: ar.lastTime, roundStart: capital,
	}
	a.applyRates(&ar.cfg)
	a.updateLevels(&ar.cfg)
	return a, nil
}

func (ar *Arena) add(a *agent) {
	ar.all = append(ar.all, a)
	ar.active = append(ar.active, a)
	ar.byID[a.id] = a
}

// Step advances the arena by one tick: every living agent fills its pending
// order in the tick's symbol, marks to market, may scar or die, and
// decides; then the tick's events are emitted in order. A tick that fails
// validation returns an error wrapping ErrTick and changes nothing; a Sink
// error stops the arena for good.
func (ar *Arena) Step(tk market.Tick) error {
	if ar.err != nil {
		return ar.err
	}
	s, ok := ar.symIndex[tk.Symbol]
	switch {
	case !ok:
		return fmt.Errorf("%w: symbol %s is not traded in this arena", ErrTick, tk.Symbol)
	case tk.Price <= 0:
		return fmt.Errorf("%w: %s price %v is not positive", ErrTick, tk.Symbol, tk.Price)
	case tk.Time.Before(ar.lastTime):
		return fmt.Errorf("%w: %s at %s is before the previous tick at %s", ErrTick, tk.Symbol,
			tk.Time.Format(time.RFC3339Nano), ar.lastTime.Format(time.RFC3339Nano))
	}
	if ar.ticks == 0 {
		for _, a := range ar.active {
			a.bornTime = tk.Time
		}
	}
	ar.lastTime = tk.Time
	prev := ar.marks[s]
	ar.marks[s] = tk.Price
	ar.agentTicks += int64(len(ar.active))
	tc := &tickCtx{sym: s, price: tk.Price, fpx: tk.Price.Float64(), tick: ar.ticks, seq: ar.seq, marks: ar.marks, cfg: &ar.cfg}
	ar.advance(tc)
	// The tick's own event comes first, then what the agents did with it;
	// every event is published after all agents have taken the tick.
	me := &MarketEvent{Symbol: tk.Symbol, Price: tk.Price, ChangePercent: changePercent(prev, tk.Price), Source: tk.Source, Stale: tk.Stale}
	ar.lastMarket[s] = me
	if err := ar.publish(Event{Type: EventMarket, Tick: ar.ticks, Market: me}, tk.Time); err != nil {
		return ar.fail(err)
	}
	if err := ar.settle(tk.Time); err != nil {
		return ar.fail(err)
	}
	ar.ticks++
	if ar.cfg.AgentEvery > 0 && ar.ticks%int64(ar.cfg.AgentEvery) == 0 {
		if err := ar.EmitAgentStates(tk.Time); err != nil {
			return err
		}
	}
	if ar.ticks%int64(ar.cfg.RoundTicks) == 0 {
		if err := ar.endRound(tk.Time); err != nil {
			return ar.fail(err)
		}
	}
	return nil
}

func (ar *Arena) fail(err error) error {
	ar.err = fmt.Errorf("%w: %w", ErrClosed, err)
	return err
}

func changePercent(prev, cur market.Price) float64 {
	if prev <= 0 {
		return 0
	}
	return float64(cur-prev) / float64(prev) * 100
}

// advance runs the parallel phase: the living are split into contiguous
// chunks, one per worker, the caller's goroutine taking the first.
func (ar *Arena) advance(tc *tickCtx) {
	n := len(ar.active)
	w := len(ar.touched)
	if ar.pool == nil || n < minParallelAgents {
		ar.runChunk(tc, 0, n, 0)
		return
	}
	ar.pool.run(func(i int) { ar.runChunk(tc, (i+1)*n/w, (i+2)*n/w, i+1) })
	ar.runChunk(tc, 0, n/w, 0)
	ar.pool.wait()
}

func (ar *Arena) runChunk(tc *tickCtx, lo, hi, chunk int) {
	touched := ar.touched[chunk][:0]
	for i, a := range ar.active[lo:hi] {
		a.onTick(tc)
		if len(a.out) > 0 || a.wantSpawn {
			touched = append(touched, int32(lo+i))
		}
	}
	ar.touched[chunk] = touched
}

// settle is the sequential phase: events in agent order, then births, then
// the dead leave the active list.
func (ar *Arena) settle(now time.Time) error {
	died := false
	for c, list := range ar.touched {
		for _, i := range list {
			a := ar.active[i]
			for _, e := range a.out {
				if err := ar.publish(e, now); err != nil {
					return err
				}
			}
			clear(a.out)
			a.out = a.out[:0]
			if a.wantSpawn {
				if err := ar.spawn(a, now); err != nil {
					return err
				}
			}
			died = died || a.dead
		}
		ar.touched[c] = list[:0]
	}
	if died {
		live := ar.active[:0]
		for _, a := range ar.active {
			if !a.dead {
				live = append(live, a)
			} else {
				ar.round.departed = append(ar.round.departed, a)
			}
		}
		clear(ar.active[len(live):])
		ar.active = live
	}
	return nil
}

// publish numbers e, folds it into the ledger hash and hands it to the sink.
func (ar *Arena) publish(e Event, now time.Time) error {
	e.Seq = ar.seq
	e.Time = now
	ar.seq++
	if e.Scar != nil {
		e.Scar.Scar.Seq = e.Seq
		a := ar.byID[e.Scar.Agent]
		a.scars[e.Scar.Total-1].Seq = e.Seq
	}
	if e.Death != nil {
		e.Death.Seq, e.Death.Tick = e.Seq, e.Tick
	}
	ar.hashEvent(&e)
	return ar.sink.Emit(e)
}

// Run steps through src until it returns io.EOF, limit ticks have been
// taken (limit ≤ 0: no limit), or ctx is done.
func (ar *Arena) Run(ctx context.Context, src TickSource, limit int64) error {
	for n := int64(0); limit <= 0 || n < limit; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		tk, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ar.Step(tk); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the worker goroutines and waits for them. It is idempotent;
// Step returns ErrClosed afterwards.
func (ar *Arena) Close() error {
	if ar.pool != nil {
		ar.pool.close()
	}
	if ar.err == nil {
		ar.err = ErrClosed
	}
	return nil
}

// Ticks is the number of ticks processed.
func (ar *Arena) Ticks() int64 { return ar.ticks }

// AgentTicks is the number of agent-ticks processed: for every tick, the
// agents alive when it arrived.
func (ar *Arena) AgentTicks() int64 { return ar.agentTicks }

// NextSeq is the sequence number the next event will get.
func (ar *Arena) NextSeq() uint64 { return ar.seq }

// Config returns the configuration in force, defaults filled in.
func (ar *Arena) Config() Config { return ar.cfg }

// fnv64 is the 64-bit FNV-1a hash of s: the stream of an agent's PCG source.
func fnv64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
