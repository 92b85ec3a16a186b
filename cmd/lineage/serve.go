package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

const serveAbout = `lineage serve: run the arena live, one market step every --tick-interval.
This build runs the engine and logs what happens (trades at debug level; scars,
deaths, births and rounds at info). The event log, the WebSocket hub on :9001
and the metrics on :9184 arrive with the issues that build them.`

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("serve", env, serveAbout)
	var af arenaFlags
	af.register(fs)
	interval := fs.Duration("tick-interval", 5*time.Second, "how often a market step is taken")
	agentEvery := fs.Duration("agent-interval", 10*time.Second, "how often every agent's state is logged")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
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
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lv}))
	af.simInterval = *interval
	st, err := af.resolve(fs, env, time.Now().UTC().Truncate(time.Second))
	if err != nil {
		return err
	}
	defer st.Close()
	ar, err := arena.New(st.cfg, st.roster, logSink(log))
	if err != nil {
		return err
	}
	defer ar.Close()
	log.Info("arena started", "feed", st.feed, "symbols", joinSymbols(st.symbols), "agents", len(st.roster),
		"seed", st.cfg.Seed, "tick_interval", *interval)

	src := &paced{src: st.src, every: time.NewTicker(*interval)}
	defer src.every.Stop()
	states := time.NewTicker(*agentEvery)
	defer states.Stop()
	// The feed reader blocks on the pacing clock; it is stopped and waited
	// for before serve returns, whatever ends it.
	ctx, cancel := context.WithCancel(ctx)
	var reader sync.WaitGroup
	defer reader.Wait()
	defer cancel()
	ticks := make(chan market.Tick)
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
			case ticks <- tk:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	for {
		select {
		case tk := <-ticks:
			if err := ar.Step(tk); err != nil {
				return err
			}
		case now := <-states.C:
			if err := ar.EmitAgentStates(now.UTC()); err != nil {
				return err
			}
		case err := <-errc:
			if errors.Is(err, context.Canceled) {
				log.Info("shutting down", "ticks", ar.Ticks(), "next_sequence", ar.NextSeq(), "ledger_hash", ar.LedgerHash())
				return nil
			}
			return fmt.Errorf("feed: %w", err)
		}
	}
}

// paced releases a source's ticks one time step per tick of every: ticks
// that share a timestamp (one sim step) go out together.
type paced struct {
	src   arena.TickSource
	every *time.Ticker
	last  time.Time
}

func (p *paced) Next(ctx context.Context) (market.Tick, error) {
	tk, err := p.src.Next(ctx)
	if err != nil {
		return tk, err
	}
	if !p.last.IsZero() && !tk.Time.Equal(p.last) {
		select {
		case <-p.every.C:
		case <-ctx.Done():
			return market.Tick{}, ctx.Err()
		}
	}
	p.last = tk.Time
	return tk, nil
}

// logSink logs the arena's events: what changes a life at info, trades and
// agent states at debug, ticks not at all.
func logSink(log *slog.Logger) arena.Sink {
	return arena.SinkFunc(func(e arena.Event) error {
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
		return nil
	})
}
