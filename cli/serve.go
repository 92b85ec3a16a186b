package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/natspub"
)

const serveAbout = `lineage serve: run the arena live, one market step every --tick-interval.
Every event is appended to the hash-chained event log in --data-dir and made
durable before anything else sees it, then streamed over WebSocket on --ws-addr
(with the dashboard at / and a read-only JSON API at /api/), and counted in the
Prometheus metrics on --metrics-addr. Started again on the same data dir, serve
rebuilds the arena from the log and carries on where it stopped, the dead still
dead; clients resume with ?since=. SIGINT/SIGTERM: 1001 to every client, exit 0.`

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("serve", env, serveAbout)
	var af arenaFlags
	af.register(fs, env.strategies)
	interval := fs.Duration("tick-interval", 5*time.Second, "how often a market step is taken")
	agentEvery := fs.Duration("agent-interval", 10*time.Second, "how often every agent's state is emitted")
	dataDir := fs.String("data-dir", ".lineage", dataDirUsage)
	level := fs.String("log-level", "info", logLevelUsage)
	var sf serverFlags
	sf.register(fs)
	var nf natsFlags
	nf.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	log, err := env.logAt(*level)
	if err != nil {
		return err
	}
	if *interval <= 0 || *agentEvery <= 0 {
		return usagef("--tick-interval and --agent-interval must be positive")
	}
	if *dataDir == "" {
		return usagef("--data-dir: must not be empty (default .lineage)")
	}
	if err := nf.check(); err != nil {
		return err
	}
	af.interval = *interval
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := af.precheck(given); err != nil {
		return err
	}
	// Everything that can be checked, loaded or bound without the data dir
	// is, first: a mistake or a busy port leaves the data dir untouched.
	var published atomic.Pointer[natspub.Publisher]
	sf.nats = nf.stats(&published)
	var st *setup // the feed: opened by Found for a new run, after Open for a stored one
	srv, err := sf.listen(*interval, func() *feed.Live {
		if st == nil {
			return nil
		}
		return st.live
	}, log)
	if err != nil {
		return err
	}
	serving := false
	defer func() {
		if !serving {
			srv.Close(context.Background())
		}
	}()
	warnDataDirMode(*dataDir, log)

	// One pass over the log both checks it and rebuilds the run it holds;
	// an empty one gets the run the flags describe.
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	e, err := engine.Open(ctx, engine.Config{
		Dir: *dataDir, Strategies: env.strategies, TickInterval: *interval, AgentInterval: *agentEvery, Logger: log, Fault: logFault, Clock: serveClock,
		Found: func() (engine.Founding, error) {
			var err error
			if st, err = af.resolve(fs, env, time.Time{}); err != nil {
				return engine.Founding{}, err
			}
			return engine.Founding{Arena: st.cfg, Roster: st.roster, Feed: st.feed,
				Replay: af.replay, ReplaySymbol: af.replaySym, Lenient: af.lenient}, nil
		},
		Stored: func(g engine.Genesis) error { return adopt(g, fs, &af) },
	})
	if err != nil {
		return interrupted(ctx, err, log)
	}
	defer e.Close()
	if st == nil {
		// The stored run's feed, deterministic from its genesis: Run
		// fast-forwards it past the ticks already taken.
		if st, err = af.resolve(fs, env, time.Time{}); err != nil {
			return err
		}
	}
	if err := srv.Start(e); err != nil {
		return err
	}
	serving = true
	// The publisher is a subscriber of committed steps: it closes before
	// the engine does (defers run last first).
	pub, err := nf.open(ctx, e, log)
	if err != nil {
		return errors.Join(err, srv.Close(context.Background()))
	}
	if pub != nil {
		published.Store(pub)
		defer pub.Close()
		// The run id is what an edge's --nats-run names, when the NATS
		// server holds more than one run.
		log.Info("publishing to jetstream", "nats_url", redactURL(nf.url), "run", pub.RunID(), "stream", pub.Stream())
	}
	f := engine.Feed{Source: st.src, Live: st.live != nil}
	if st.record != nil {
		f.Record = st.record
	}
	err = e.Run(ctx, f)
	// Shutdown: 1001 to every client and both HTTP servers closed within
	// the budget; the log was committed by Run and closes on return.
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return errors.Join(err, srv.Close(sctx))
}

// interrupted returns nil, having said so, for an error that a cancelled
// start-up caused: the data dir is as it was, or holds a complete run;
// any other error is returned as it is.
func interrupted(ctx context.Context, err error, log *slog.Logger) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
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

// logFault is the engine's Config.Fault: nil, a seam for tests of a
// failing disk.
var logFault func(op string) error

// serveClock is the engine's Config.Clock: nil (time.Now), a seam for the
// test that pins serve's wire bytes.
var serveClock func() time.Time

// adopt makes the flags describe the stored run. A flag given explicitly
// that contradicts it is a usage error: a data dir holds one run.
func adopt(g engine.Genesis, fs *flag.FlagSet, af *arenaFlags) error {
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
