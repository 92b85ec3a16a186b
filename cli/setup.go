package cli

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// arenaFlags are the flags `arena` and `serve` share: what to trade, who
// trades it and under which rules.
type arenaFlags struct {
	feed       string
	replay     listFlag
	replaySym  string
	lenient    bool
	symbols    string
	agents     int
	roster     string
	roundTicks int
	seed       string
	feeBps     float64
	slipBps    float64
	leverage   float64
	maxAgents  int
	// interval is the time between market steps: simulated time between
	// sim steps, and the time between live fetch rounds. serve sets it from
	// --tick-interval, arena from --step-interval.
	interval  time.Duration
	providers string
	urls      map[string]*string // provider name → base URL flag
	record    string
	// getenv reads the providers' API keys.
	getenv func(string) string
	// strategies are the program's own (Options.Strategies), beside the
	// built-ins: a roster may name them and --agents spreads over them.
	strategies []arena.StrategySpec
}

// register defines the flags on fs; strategies are the program's own.
func (f *arenaFlags) register(fs *flag.FlagSet, strategies []arena.StrategySpec) {
	f.strategies = strategies
	fs.StringVar(&f.feed, "feed", "sim", "price feed: sim, replay or live")
	fs.Var(&f.replay, "replay", "CSV file to replay; repeat or comma-separate for several (with --feed replay)")
	fs.StringVar(&f.replaySym, "replay-symbol", "", "symbol of candle (kline) files whose name does not say it, e.g. BTC-USD")
	fs.BoolVar(&f.lenient, "lenient", false, "skip and count bad CSV rows instead of failing")
	fs.StringVar(&f.symbols, "symbols", joinSymbols(market.DefaultSymbols), "comma-separated symbols to trade (replay: only these are kept)")
	fs.IntVar(&f.agents, "agents", 0, "found N agents spread round-robin over the strategies ("+strategyNames(strategies)+
		") with seeded parameter variation (default: Momentum, Conservative, Balanced)")
	fs.StringVar(&f.roster, "roster", "", `JSON roster file: [{"name","strategy","capital","params"}], each strategy one of `+
		strategyNames(strategies)+" (built in, then the program's own: see package cli)")
	fs.IntVar(&f.roundTicks, "round-ticks", arena.DefaultRoundTicks, "ticks per round")
	fs.StringVar(&f.seed, "seed", "", "seed of every random choice (default: random, printed)")
	fs.Float64Var(&f.feeBps, "fee-bps", 10, "fee on the notional of every fill, in basis points")
	fs.Float64Var(&f.slipBps, "slippage-bps", 5, "largest adverse slippage of a fill, in basis points")
	fs.Float64Var(&f.leverage, "leverage", 5, "leverage cap before scars cut it")
	fs.IntVar(&f.maxAgents, "max-agents", 0, "cap on living agents, births included (default 4 × founders, at least 16)")
	fs.StringVar(&f.providers, "providers", strings.Join(feed.ProviderNames(), ","), "live price providers in fallback order (with --feed live)")
	f.urls = map[string]*string{}
	for _, name := range feed.ProviderNames() {
		f.urls[name] = fs.String(name+"-url", "", "base URL of "+name+", for a proxy or a test server (default: its public API)")
	}
	fs.StringVar(&f.record, "record", "", "write the ticks the arena takes to FILE as replay CSV (a new file; mode 0600)")
}

// setup is what arenaFlags resolve to.
type setup struct {
	cfg     arena.Config
	roster  []arena.Founder
	src     arena.TickSource
	replay  *feed.Replay // nil unless --feed replay
	live    *feed.Live   // nil unless --feed live
	record  *os.File     // --record's file, nil without it
	feed    string
	symbols []market.Symbol
	// drawnSeed is set when no seed was given: the command announces the
	// one drawn once the run starts, so it can be repeated.
	drawnSeed bool
}

func (s *setup) Close() error {
	var errs []error
	if s.replay != nil {
		errs = append(errs, s.replay.Close())
	}
	if s.live != nil {
		errs = append(errs, s.live.Close())
	}
	if s.record != nil {
		errs = append(errs, s.record.Sync(), s.record.Close())
	}
	return errors.Join(errs...)
}

// recorded wraps src so that every tick it passes on is written to the
// --record file, if there is one. Commands wrap the source the arena
// actually takes ticks from, after any pacing.
func (s *setup) recorded(src arena.TickSource) arena.TickSource {
	if s.record == nil {
		return src
	}
	return feed.NewRecorder(s.record, src)
}

// resolve validates the flags and opens the feed. Command-line mistakes are
// usage errors; files that cannot be read or parsed are runtime errors.
func (f *arenaFlags) resolve(fs *flag.FlagSet, env *cmdEnv, simStart time.Time) (*setup, error) {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	s := &setup{feed: f.feed}
	seed, err := parseSeed(f.seed)
	if err != nil {
		return nil, err
	}
	if err := f.checkCounts(given); err != nil {
		return nil, err
	}
	switch {
	case !finite(f.feeBps) || f.feeBps < 0 || f.feeBps >= 10_000:
		return nil, usagef("--fee-bps %g: must be in [0, 10000)", f.feeBps)
	case !finite(f.slipBps) || f.slipBps < 0 || f.slipBps >= 1000:
		return nil, usagef("--slippage-bps %g: must be in [0, 1000)", f.slipBps)
	case !finite(f.leverage) || f.leverage <= 0 || f.leverage > 100:
		return nil, usagef("--leverage %g: must be in (0, 100]", f.leverage)
	case f.interval <= 0:
		return nil, usagef("interval %s: must be positive", f.interval)
	}
	syms, err := market.ParseSymbols(f.symbols)
	if err != nil {
		return nil, usagef("--symbols: %v", err)
	}
	switch f.feed {
	case "sim":
		if len(f.replay) > 0 {
			return nil, usagef("--replay needs --feed replay")
		}
		s.src = feed.NewSim(feed.SimConfig{Symbols: syms, Seed: seed, Start: simStart, Interval: f.interval})
		s.symbols = syms
	case "replay":
		if len(f.replay) == 0 {
			return nil, usagef("--feed replay needs --replay FILE")
		}
		var rsym market.Symbol
		if f.replaySym != "" {
			if rsym, err = market.ParseSymbol(f.replaySym); err != nil {
				return nil, usagef("--replay-symbol: %v", err)
			}
		}
		r, err := feed.OpenReplay(f.replay, feed.ReplayConfig{Symbol: rsym, Lenient: f.lenient})
		if err != nil {
			return nil, err
		}
		s.replay, s.src, s.symbols = r, r, r.Symbols()
		if given["symbols"] {
			s.symbols = intersect(r.Symbols(), syms)
			if len(s.symbols) == 0 {
				r.Close()
				return nil, usagef("--symbols %s: none of them is in the replay (it has %s)", f.symbols, joinSymbols(r.Symbols()))
			}
			s.src = &symbolFilter{src: r, keep: s.symbols}
		}
	case "live":
		if len(f.replay) > 0 {
			return nil, usagef("--replay needs --feed replay")
		}
		live, err := f.openLive(syms, seed, env, given["providers"])
		if err != nil {
			return nil, err
		}
		s.live, s.src, s.symbols = live, live, syms
	default:
		return nil, usagef("--feed %q: want sim, replay or live", f.feed)
	}
	s.cfg = arena.Config{
		Symbols: s.symbols, Seed: seed, RoundTicks: f.roundTicks, MaxAgents: f.maxAgents,
		Fee:         market.RateFromFloat(f.feeBps / 10_000),
		Slippage:    market.RateFromFloat(f.slipBps / 10_000),
		LeverageCap: market.RateFromFloat(f.leverage),
	}
	if f.feeBps == 0 {
		s.cfg.Fee = -1 // none; zero would mean the default
	}
	if f.slipBps == 0 {
		s.cfg.Slippage = -1
	}
	switch {
	case f.roster != "":
		if s.roster, err = readRoster(f.roster, f.strategies); err != nil {
			s.Close()
			return nil, err
		}
	case f.agents > 0:
		s.roster = arena.GenerateRoster(f.agents, seed, f.strategies...)
	default:
		s.roster = arena.DefaultRoster()
	}
	if err := f.checkFounders(len(s.roster)); err != nil {
		s.Close()
		return nil, err
	}
	if bound := agentsBound(); f.maxAgents == 0 && 4*len(s.roster) > bound {
		s.cfg.MaxAgents = max(bound, len(s.roster)) // the default, 4 × founders, bounded
	}
	if f.record != "" {
		rec, err := os.OpenFile(f.record, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("--record: %w", err)
		}
		s.record = rec
	}
	s.drawnSeed = f.seed == ""
	return s, nil
}

// precheck checks, before anything is opened, what resolve would refuse
// for want of a file or a network: the counts, the feed's name and the
// founders against --max-agents (reading --roster for their number).
func (f *arenaFlags) precheck(given map[string]bool) error {
	if err := f.checkCounts(given); err != nil {
		return err
	}
	switch f.feed {
	case "sim", "replay", "live":
	default:
		return usagef("--feed %q: want sim, replay or live", f.feed)
	}
	n := len(arena.DefaultRoster())
	switch {
	case f.roster != "":
		roster, err := readRoster(f.roster, f.strategies)
		if err != nil {
			return err
		}
		n = len(roster)
	case f.agents > 0:
		n = f.agents
	}
	return f.checkFounders(n)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// parseSeed reads a decimal uint64, or draws one from crypto/rand when s is
// empty.
func parseSeed(s string) (uint64, error) {
	if s == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("draw a seed: %w", err)
		}
		return binary.LittleEndian.Uint64(b[:]) >> 1, nil
	}
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, usagef("--seed %q: want a non-negative integer", s)
	}
	return v, nil
}

var errInterrupted = errors.New("interrupted")
