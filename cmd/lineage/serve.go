package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/market"
)

const serveAbout = `lineage serve: run the arena live, one market step every --tick-interval.
Every event is appended to the hash-chained event log in --data-dir and made
durable before anything else sees it, then streamed over WebSocket on --ws-addr
(with the dashboard at / and a read-only JSON API at /api/), and counted in the
Prometheus metrics on --metrics-addr. Started again on the same data dir, serve
rebuilds the arena from the log and carries on where it stopped, the dead still
dead; clients resume with ?since=. SIGINT/SIGTERM: 1001 to every client, exit 0.`

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("serve", env, serveAbout)
	var af arenaFlags
	af.register(fs)
	interval := fs.Duration("tick-interval", 5*time.Second, "how often a market step is taken")
	agentEvery := fs.Duration("agent-interval", 10*time.Second, "how often every agent's state is emitted")
	dataDir := fs.String("data-dir", ".lineage", dataDirUsage)
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	var sf serverFlags
	sf.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", *level)
	}
	if *interval <= 0 || *agentEvery <= 0 {
		return usagef("--tick-interval and --agent-interval must be positive")
	}
	if *dataDir == "" {
		return usagef("--data-dir: must not be empty (default .lineage)")
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lv}))
	env.Log = log
	af.interval = *interval
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := af.precheck(given); err != nil {
		return err
	}
	// Everything that can be checked, loaded or bound without the data dir
	// is, first: a mistake or a busy port leaves the data dir untouched.
	ls, err := sf.open()
	if err != nil {
		return err
	}
	serving := false
	defer func() {
		if !serving {
			ls.close()
		}
	}()
	warnDataDirMode(*dataDir, log)

	// One pass over the log both checks it and rebuilds the run it holds.
	started := time.Now()
	sink := &switchSink{}
	trades := newTradeBook()
	rb := &rebuilder{seen: trades.observe, found: func(g genesis, s arena.Sink) (*arena.Arena, error) {
		if err := g.adopt(fs, &af); err != nil {
			return nil, err
		}
		sink.to = s
		return arena.New(g.config(), g.Roster, sink)
	}}
	l, err := eventlog.Open(filepath.Join(*dataDir, "events"), eventlog.Options{Logger: log, Visit: interruptible(ctx, rb.visit), Fault: logFault})
	if err != nil {
		if rb.ar != nil {
			rb.ar.Close()
		}
		return interrupted(ctx, err, log)
	}
	defer l.Close()
	h := &history{log: l}
	var run *liveRun
	if rb.ar == nil {
		run, err = foundRun(ctx, fs, env, &af, l, h, log)
	} else {
		sink.to = h
		run, err = resumeRun(ctx, fs, env, &af, rb, h, log, started)
	}
	if err != nil {
		return interrupted(ctx, err, log)
	}
	defer run.close()
	u, err := newUndertaker(*dataDir, run.ar, run.deaths, log)
	if err != nil {
		return err
	}
	// Deaths from before a crash may lack their tombstone: bury them now.
	for _, c := range run.deaths {
		u.bury(c)
	}
	if u.err != nil {
		return u.err
	}
	h.observers = append(h.observers, logEvent(log), u.bury, trades.observe)
	run.buried = u
	web, err := startWeb(&sf, ls, *dataDir, run.ar, l, h, trades, log)
	if err != nil {
		return err
	}
	mx := startMetrics(ls.metrics, sf.metricsAgents, web.snap.Load, run.st.live, l, web, *interval, run.writeFailure, log)
	serving = true
	err = run.loop(ctx, h, *interval, *agentEvery, log)
	// Shutdown: 1001 to every client and both HTTP servers closed within
	// the budget; the log was committed by the loop and closes on return.
	return errors.Join(err, web.stop(3*time.Second), mx.stop(time.Second))
}

// interruptible wraps a log visitor so that SIGINT stops a long rebuild
// within a thousand records: the log is only read, and stays as it was.
func interruptible(ctx context.Context, visit func(eventlog.Record) error) func(eventlog.Record) error {
	return func(rec eventlog.Record) error {
		if rec.Seq%1024 == 0 && ctx.Err() != nil {
			return errStartInterrupted
		}
		return visit(rec)
	}
}

// errStartInterrupted ends a start-up that SIGINT or SIGTERM cut short.
var errStartInterrupted = errors.New("interrupted while starting")

// interrupted returns nil, having said so, for an error that a cancelled
// start-up caused: the data dir is as it was, or holds a complete run;
// any other error is returned as it is.
func interrupted(ctx context.Context, err error, log *slog.Logger) error {
	if ctx.Err() != nil && (errors.Is(err, errStartInterrupted) || errors.Is(err, context.Canceled)) {
		log.Info("interrupted while starting: nothing served")
		return nil
	}
	return err
}

// warnDataDirMode warns, once at start, when an existing data dir is open
// to its group or to others: it holds the graveyard's signing key. serve
// creates a new one mode 0700.
func warnDataDirMode(dir string, log *slog.Logger) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		log.Warn("data dir is open to group or others; it holds the graveyard's signing key (chmod 700 it)",
			"data_dir", dir, "mode", fmt.Sprintf("%04o", perm))
	}
}

// liveRun is an arena with its feed, fresh or rebuilt from a data dir.
type liveRun struct {
	ar     *arena.Arena
	st     *setup
	src    arena.TickSource
	clock  func() time.Time
	deaths []committed // deaths found while rebuilding
	buried *undertaker
	// failing is the write failure holding the arena, nil when writes
	// succeed; read by /readyz.
	failing atomic.Pointer[error]
}

// writeFailure is the write failure holding the arena, nil when writes
// succeed. It is safe for concurrent use.
func (r *liveRun) writeFailure() error {
	if p := r.failing.Load(); p != nil {
		return *p
	}
	return nil
}

// logFault is the event log's Options.Fault: nil, a seam for tests of a
// failing disk.
var logFault func(op string) error

// The loop retries a failed write after retryMin, doubling up to retryMax.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 5 * time.Second
)

func (r *liveRun) close() {
	r.ar.Close()
	r.st.Close()
}

// foundRun founds a new run in an empty log: record 0 is its genesis.
// SIGINT before the genesis is durable leaves the log empty.
func foundRun(ctx context.Context, fs *flag.FlagSet, env *Env, af *arenaFlags, l *eventlog.Log, h *history, log *slog.Logger) (*liveRun, error) {
	st, err := af.resolve(fs, env, time.Time{})
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		st.Close()
		return nil, errStartInterrupted
	}
	st.cfg.FirstSeq = 1
	ar, err := arena.New(st.cfg, st.roster, h)
	if err != nil {
		st.Close()
		return nil, err
	}
	if ctx.Err() != nil {
		ar.Close()
		st.Close()
		return nil, errStartInterrupted
	}
	now := time.Now().UTC()
	g := newGenesis(ar.Config(), st.feed, st.roster, now)
	g.Replay, g.ReplaySymbol, g.Lenient = af.replay, af.replaySym, af.lenient
	payload, err := json.Marshal(g)
	if err == nil {
		_, err = l.Append(0, now, genesisType, payload)
	}
	if err == nil {
		err = l.Sync()
	}
	if err != nil {
		ar.Close()
		st.Close()
		return nil, fmt.Errorf("write genesis record: %w", err)
	}
	log.Info("arena founded", "data_dir", filepath.Dir(l.Dir()), "feed", st.feed, "symbols", joinSymbols(st.symbols),
		"agents", len(st.roster), "seed", st.cfg.Seed)
	return &liveRun{ar: ar, st: st, src: st.src, clock: time.Now}, nil
}

// resumeRun carries on the run rb rebuilt while the log was opened: the
// events of a tick cut short are completed, and the feed — deterministic
// from the genesis — is fast-forwarded past the ticks already taken.
func resumeRun(ctx context.Context, fs *flag.FlagSet, env *Env, af *arenaFlags, rb *rebuilder, h *history, log *slog.Logger, started time.Time) (*liveRun, error) {
	ar := rb.ar
	fail := func(st *setup, err error) (*liveRun, error) {
		ar.Close()
		if st != nil {
			st.Close()
		}
		return nil, err
	}
	completed, err := rb.complete(h)
	if err == nil {
		err = h.Commit()
	}
	if err != nil {
		return fail(nil, fmt.Errorf("complete the last tick: %w", err))
	}
	st, err := af.resolve(fs, env, time.Time{})
	if err != nil {
		return fail(nil, err)
	}
	for i := int64(0); st.live == nil && i < ar.Ticks(); i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return fail(st, errStartInterrupted)
		}
		if _, err := st.src.Next(ctx); err != nil {
			return fail(st, fmt.Errorf("fast-forward the %s feed past %d ticks: %w", rb.g.Feed, ar.Ticks(), err))
		}
	}
	log.Info("arena resumed", "data_dir", filepath.Dir(h.log.Dir()), "next_sequence", ar.NextSeq(), "ticks", ar.Ticks(),
		"living", ar.Living(), "completed_events", completed, "rebuild", time.Since(started).Round(time.Millisecond),
		"seed", rb.g.Seed, "ledger_hash", ar.LedgerHash())
	return &liveRun{ar: ar, st: st, src: st.src, clock: time.Now, deaths: rb.deaths}, nil
}

// adopt makes the flags describe the stored run. A flag given explicitly
// that contradicts it is a usage error: a data dir holds one run.
func (g genesis) adopt(fs *flag.FlagSet, af *arenaFlags) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	conflict := func(name, have string) error {
		return usagef("--%s: the data dir holds a run with %s %s; use another --data-dir for a new run", name, name, have)
	}
	if given["seed"] && af.seed != strconv.FormatUint(g.Seed, 10) {
		return conflict("seed", strconv.FormatUint(g.Seed, 10))
	}
	if given["feed"] && af.feed != g.Feed {
		return conflict("feed", g.Feed)
	}
	if given["symbols"] && af.symbols != joinSymbols(g.Symbols) {
		return conflict("symbols", joinSymbols(g.Symbols))
	}
	for _, name := range []string{"agents", "roster", "round-ticks", "fee-bps", "slippage-bps", "leverage", "max-agents"} {
		if given[name] {
			return usagef("--%s: the data dir holds a run whose rules and roster are fixed; use another --data-dir for a new run", name)
		}
	}
	af.seed = strconv.FormatUint(g.Seed, 10)
	af.feed, af.symbols = g.Feed, joinSymbols(g.Symbols)
	af.replay, af.replaySym, af.lenient = g.Replay, g.ReplaySymbol, g.Lenient
	af.agents, af.roster = 0, ""
	return nil
}

// switchSink forwards to a sink that can change between ticks: the
// rebuilder while a run is rebuilt, the history afterwards.
type switchSink struct{ to arena.Sink }

func (s *switchSink) Emit(e arena.Event) error { return s.to.Emit(e) }

// loop takes a market step every interval and every agent's state every
// agentEvery, committing the events of each before the next, until ctx is
// done.
//
// A write that fails — an append, an fsync, a rollover, a tombstone — holds
// the arena: the events of the step are kept (see history), no tick and no
// agent state is taken, writeFailure reports the failure, and the commit is
// tried again after retryMin, then less and less often up to retryMax. When
// it succeeds the held events are published and the arena goes on from
// where it stopped: the step's sequence numbers are the ones it had, none
// skipped, none issued twice. Reads (clients, the API) are served
// throughout, from what is durable.
func (r *liveRun) loop(ctx context.Context, h *history, interval, agentEvery time.Duration, log *slog.Logger) error {
	// The feed reader blocks on the pacing clock; it is stopped and waited
	// for before loop returns, whatever ends it.
	ctx, cancel := context.WithCancel(ctx)
	var reader sync.WaitGroup
	defer reader.Wait()
	defer cancel()
	// A live feed keeps its own time, one fetch round per interval; the
	// others are paced here and stamped with the time they are taken.
	var src arena.TickSource = r.src
	var pace *paced
	if r.st.live == nil {
		pace = &paced{src: r.src, every: time.NewTicker(interval), clock: r.clock}
		defer pace.every.Stop()
		src = pace
	}
	src = r.st.recorded(src)
	states := time.NewTicker(agentEvery)
	defer states.Stop()
	ticks := make(chan stepTick)
	errc := make(chan error, 1)
	reader.Add(1)
	go func() {
		defer reader.Done()
		for {
			tk, err := src.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case ticks <- stepTick{tk, pace != nil && pace.more}:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	// commit makes the events emitted so far durable and buries the dead;
	// a write failure holds the arena until a retry succeeds.
	retry := time.NewTimer(retryMin)
	retry.Stop()
	defer retry.Stop()
	wait := retryMin
	commit := func() error {
		err := h.Commit()
		if err == nil && r.buried != nil {
			if err = r.buried.err; err != nil {
				return err
			}
			err = r.buried.flush()
		} else if err != nil && !errors.Is(err, eventlog.ErrWriteFailed) {
			return err
		}
		if err != nil {
			if r.failing.Load() == nil {
				log.Warn("write failed: the arena is held, and the write retried until it succeeds",
					"first_held", h.log.Durable(), "next_sequence", r.ar.NextSeq(), "err", err)
			}
			r.failing.Store(&err)
			retry.Reset(wait)
			wait = min(2*wait, retryMax)
			return nil
		}
		if r.failing.Load() != nil {
			log.Info("writes succeed again: the arena goes on", "next_sequence", r.ar.NextSeq())
			r.failing.Store(nil)
			wait = retryMin
		}
		return nil
	}
	if r.buried != nil {
		// Tombstones a start could not write are retried as any other.
		if err := commit(); err != nil {
			return err
		}
	}
	last := time.Time{}
	for {
		if r.failing.Load() != nil {
			// Held: nothing new is taken until the retry commits.
			select {
			case <-retry.C:
				if err := commit(); err != nil {
					return err
				}
			case <-ctx.Done():
				err := r.writeFailure()
				log.Info("shutting down with a write failing: what it holds is lost, never acknowledged",
					"next_sequence", r.ar.NextSeq(), "durable", h.log.Durable())
				return err
			}
			continue
		}
		var err error
		select {
		case st := <-ticks:
			tk := st.tk
			// A clock stepped back must not stop the arena: time never
			// runs backwards in the log.
			if tk.Time.Before(last) {
				tk.Time = last
			}
			last = tk.Time
			err = r.ar.Step(tk)
			if err == nil && st.more {
				// The rest of the time step is on its way: its events are
				// committed (one fsync) and published (one batch) together.
				continue
			}
		case now := <-states.C:
			at := now.UTC()
			if at.Before(last) {
				at = last
			}
			err = r.ar.EmitAgentStates(at)
		case <-ctx.Done():
			if err := commit(); err != nil {
				return err
			}
			if err := r.writeFailure(); err != nil {
				return err
			}
			log.Info("shutting down", "ticks", r.ar.Ticks(), "next_sequence", r.ar.NextSeq(), "ledger_hash", r.ar.LedgerHash())
			return nil
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				log.Info("feed ended: no more ticks; agent states go on", "ticks", r.ar.Ticks())
				errc = nil
				continue
			}
			if ctx.Err() != nil {
				continue // shutting down: the ctx case commits
			}
			return fmt.Errorf("feed: %w", err)
		}
		if err == nil {
			err = commit()
		}
		if err != nil {
			return err
		}
	}
}

// stepTick is a tick for the loop; more says the tick is not the last of
// its time step.
type stepTick struct {
	tk   market.Tick
	more bool
}

// paced releases a source's ticks one time step per tick of every, and
// stamps them with the clock at release: ticks that share a source
// timestamp (one sim step) go out together with one time. It reads one
// tick ahead (a sim or replay source answers at once), so more tells
// whether the tick Next returned last has others of its step after it.
type paced struct {
	src   arena.TickSource
	every *time.Ticker
	clock func() time.Time
	last  time.Time // source time of the previous tick
	stamp time.Time

	ahead    *market.Tick // the tick read ahead, if any
	aheadErr error        // or the error reading it gave
	more     bool
}

func (p *paced) Next(ctx context.Context) (market.Tick, error) {
	var tk market.Tick
	switch {
	case p.ahead != nil:
		tk, p.ahead = *p.ahead, nil
	case p.aheadErr != nil:
		err := p.aheadErr
		p.aheadErr = nil
		return market.Tick{}, err
	default:
		var err error
		if tk, err = p.src.Next(ctx); err != nil {
			return tk, err
		}
	}
	if p.stamp.IsZero() || !tk.Time.Equal(p.last) {
		if !p.stamp.IsZero() {
			select {
			case <-p.every.C:
			case <-ctx.Done():
				return market.Tick{}, ctx.Err()
			}
		}
		p.stamp = p.clock().UTC()
	}
	p.last = tk.Time
	next, err := p.src.Next(ctx)
	if err != nil {
		p.aheadErr, p.more = err, false
	} else {
		p.ahead, p.more = &next, next.Time.Equal(tk.Time)
	}
	tk.Time = p.stamp
	return tk, nil
}

// logEvent logs durable events: what changes a life at info, trades and
// agent states at debug, ticks not at all.
func logEvent(log *slog.Logger) func(committed) {
	return func(c committed) {
		e := c.event
		switch {
		case e.Trade != nil:
			t := e.Trade
			log.Debug("trade", "seq", e.Seq, "agent", t.Agent, "symbol", t.Symbol, "action", t.Action, "side", t.Side,
				"qty", t.Qty, "price", t.Price, "fee", t.Fee, "net_pnl", t.NetPnL)
		case e.Agent != nil:
			a := e.Agent
			log.Debug("agent", "seq", e.Seq, "agent", a.ID, "capital", a.Capital.Cents(), "trades", a.Trades,
				"win_rate", a.WinRate, "scars", a.Scars, "status", a.Status)
		case e.Scar != nil:
			log.Info("scar", "seq", e.Seq, "agent", e.Scar.Agent, "kind", e.Scar.Scar.Kind, "severity", e.Scar.Scar.Severity, "total", e.Scar.Total)
		case e.Death != nil:
			log.Info("death", "seq", e.Seq, "agent", e.Death.Agent, "cause", e.Death.Cause, "final_capital", e.Death.Equity.Cents())
		case e.Spawn != nil:
			log.Info("birth", "seq", e.Seq, "parent", e.Spawn.Parent, "child", e.Spawn.Child, "endowment", e.Spawn.Endowment.Cents())
		case e.Round != nil:
			log.Info("round", "seq", e.Seq, "round", e.Round.Number, "winner", e.Round.Winner, "return", e.Round.WinnerReturn)
		}
	}
}
