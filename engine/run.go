package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// Run retries a failed write after retryMin, doubling up to retryMax.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 5 * time.Second
)

// Feed is what Run takes ticks from.
type Feed struct {
	// Source gives the ticks. Required. io.EOF ends the ticks (agent
	// states go on); any other error ends Run.
	Source arena.TickSource
	// Live says Source keeps its own time: a live feed, one round of
	// fetches per interval, each tick stamped when fetched. Run takes its
	// ticks as they come. Any other source (sim, replay) gives the run's
	// feed from its start: Run first skips the ticks the run has already
	// taken (a rebuilt run goes on where it stopped), then releases one
	// time step — the ticks that share a timestamp — per
	// Config.TickInterval, stamped with Config.Clock.
	Live bool
	// Record, if set, receives every tick Run takes, after pacing, as
	// replay CSV (feed.Recorder). The caller owns it: syncs and closes it.
	Record io.Writer
}

// Run steps the arena until ctx is done or Close is called: a market step
// for each time step of f, every agent's state every
// Config.AgentInterval, the events of each committed — one fsync — and
// handed to the subscribers before the next is taken. It returns nil once
// stopped with every event durable. It must not be called twice at once.
//
// A write that fails — an append, an fsync, a rollover, a tombstone —
// holds the arena: the events of the step are kept, no tick and no agent
// state is taken, WriteFailure reports the failure, and the commit is
// tried again after 50 ms, then less and less often up to every 5 s. When
// it succeeds the held events are published and the arena goes on from
// where it stopped: the step's sequence numbers are the ones it had, none
// skipped, none issued twice. Readers are served throughout, from what is
// durable. Stopped while held, Run returns the write failure: what it
// holds is lost, never acknowledged.
func (e *Engine) Run(ctx context.Context, f Feed) error {
	if f.Source == nil {
		return errors.New("engine: Feed.Source is nil")
	}
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		return ErrClosed
	case e.cancel != nil:
		e.mu.Unlock()
		return errors.New("engine: Run is already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	e.running.Add(1)
	e.mu.Unlock()
	defer func() {
		cancel()
		e.mu.Lock()
		e.cancel = nil
		e.mu.Unlock()
		e.running.Done()
	}()
	if !f.Live {
		for i := int64(0); i < e.ar.Ticks(); i++ {
			if i%4096 == 0 && ctx.Err() != nil {
				e.cfg.Logger.Info("shutting down", "ticks", e.ar.Ticks(), "next_sequence", e.ar.NextSeq(), "ledger_hash", e.ar.LedgerHash())
				return nil
			}
			if _, err := f.Source.Next(ctx); err != nil {
				return fmt.Errorf("fast-forward the %s feed past %d ticks: %w", e.g.Feed, e.ar.Ticks(), err)
			}
		}
	}
	return e.loop(ctx, f)
}

// loop takes a market step every interval and every agent's state every
// AgentInterval, committing the events of each before the next, until ctx
// is done. See Run.
func (e *Engine) loop(ctx context.Context, f Feed) error {
	log, h := e.cfg.Logger, e.h
	// The feed reader blocks on the pacing clock; it is stopped and waited
	// for before loop returns, whatever ends it.
	ctx, cancel := context.WithCancel(ctx)
	var reader sync.WaitGroup
	defer reader.Wait()
	defer cancel()
	// A live feed keeps its own time, one fetch round per interval; the
	// others are paced here and stamped with the time they are taken.
	src := f.Source
	var pace *paced
	if !f.Live {
		pace = &paced{src: src, every: time.NewTicker(e.cfg.TickInterval), clock: e.cfg.Clock}
		defer pace.every.Stop()
		src = pace
	}
	if f.Record != nil {
		src = feed.NewRecorder(f.Record, src)
	}
	// Agent states are due every AgentInterval. A tick taken when they are
	// due (within joinWindow) takes them into its step, so a tick and the
	// states that fall due with it are one commit and one burst to every
	// client, not two back to back; the timer emits them when no tick does.
	statesDue := time.Now().Add(e.cfg.AgentInterval)
	states := time.NewTimer(e.cfg.AgentInterval + joinWindow)
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
	// A checkpoint write in flight is waited for whatever ends the loop.
	defer e.ckpt.wait()
	retry := time.NewTimer(retryMin)
	retry.Stop()
	defer retry.Stop()
	wait := retryMin
	commit := func() error {
		err := h.Commit()
		if err == nil {
			if err = e.u.err; err != nil {
				return err
			}
			err = e.u.flush()
		} else if !errors.Is(err, eventlog.ErrWriteFailed) {
			return err
		}
		if err != nil {
			if e.failing.Load() == nil {
				log.Warn("write failed: the arena is held, and the write retried until it succeeds",
					"first_held", h.log.Durable(), "next_sequence", e.ar.NextSeq(), "err", err)
			}
			e.failing.Store(&err)
			retry.Reset(wait)
			wait = min(2*wait, retryMax)
			return nil
		}
		if e.failing.Load() != nil {
			log.Info("writes succeed again: the arena goes on", "next_sequence", e.ar.NextSeq())
			e.failing.Store(nil)
			wait = retryMin
		}
		return nil
	}
	// Tombstones a start could not write are retried as any other.
	if err := commit(); err != nil {
		return err
	}
	last := time.Time{}
	stepAt := time.Time{} // the time of the last step, a tick's or agent states'
	// emitStates emits every agent's state at now, and sets when they are
	// due next: the first AgentInterval after statesDue that is after now.
	emitStates := func(now time.Time) error {
		at := now.UTC()
		if at.Before(last) {
			at = last
		}
		stepAt = at
		for !statesDue.After(now) {
			statesDue = statesDue.Add(e.cfg.AgentInterval)
		}
		states.Reset(statesDue.Sub(now) + joinWindow)
		return e.ar.EmitAgentStates(at)
	}
	for {
		if e.failing.Load() != nil {
			// Held: nothing new is taken until the retry commits.
			select {
			case <-retry.C:
				if err := commit(); err != nil {
					return err
				}
			case <-ctx.Done():
				err := e.WriteFailure()
				log.Info("shutting down with a write failing: what it holds is lost, never acknowledged",
					"next_sequence", e.ar.NextSeq(), "durable", h.log.Durable())
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
			last, stepAt = tk.Time, tk.Time
			err = e.ar.Step(tk)
			if err == nil && st.more {
				// The rest of the time step is on its way: its events are
				// committed (one fsync) and published (one batch) together.
				continue
			}
			if now := time.Now(); err == nil && !now.Before(statesDue.Add(-joinWindow)) {
				err = emitStates(now)
			}
		case now := <-states.C:
			err = emitStates(now)
		case <-ctx.Done():
			// A checkpoint being written is recorded in the last commit.
			if w, ok := e.ckpt.wait(); ok {
				if err := e.ckpt.record(e.ar, w, stepAt); err != nil {
					return err
				}
			}
			if err := commit(); err != nil {
				return err
			}
			if err := e.WriteFailure(); err != nil {
				return err
			}
			log.Info("shutting down", "ticks", e.ar.Ticks(), "next_sequence", e.ar.NextSeq(), "ledger_hash", e.ar.LedgerHash())
			return nil
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				log.Info("feed ended: no more ticks; agent states go on", "ticks", e.ar.Ticks())
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
		if err == nil && e.failing.Load() == nil {
			err = e.ckpt.afterCommit(e.ar, stepAt)
		}
		if err != nil {
			return err
		}
	}
}

// joinWindow is how early a tick may take the agent states due after it
// (see loop): the pacer's ticker and the states' schedule start together,
// so with intervals that divide one another they fall due at the same
// instants, and their timers fire microseconds apart.
const joinWindow = 5 * time.Millisecond

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
