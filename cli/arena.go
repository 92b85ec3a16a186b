package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

const arenaAbout = `lineage arena: run a competition offline, as fast as the machine allows, over
the simulated feed or replayed CSV prices, and print the leaderboard. The report
carries the seed and a ledger hash: the same seed and feed give the same hash.`

// defaultSimTicks is how long a sim run lasts without --ticks.
const defaultSimTicks = 10_000

func runArena(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("arena", env, arenaAbout)
	var af arenaFlags
	af.register(fs, env.strategies)
	ticks := fs.Int64("ticks", 0, fmt.Sprintf("ticks to run (default %d for sim, the whole feed for replay)", defaultSimTicks))
	format := fs.String("format", "table", "report format: table, json or csv")
	out := fs.String("out", "", "write the report to FILE instead of stdout")
	trades := fs.Bool("trades", false, "include the full trade ledger (with csv: the ledger replaces the leaderboard)")
	fs.DurationVar(&af.interval, "step-interval", 5*time.Second, "time between market steps: simulated time for sim, between fetch rounds for live")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["ticks"] {
		if err := checkCount("ticks", *ticks, 1, maxArenaTicks, "a longer run never ends"); err != nil {
			return err
		}
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		return usagef("--format %q: want table, json or csv", *format)
	}
	st, err := af.resolve(fs, env, time.Time{})
	if err != nil {
		return err
	}
	defer st.Close()
	limit := *ticks
	if limit == 0 && st.feed == "sim" {
		limit = defaultSimTicks
	}

	rec := &recorder{keepTrades: *trades}
	st.cfg.Strategies = env.strategies // serve hands them to the engine, which adds them
	ar, err := arena.New(st.cfg, st.roster, rec)
	if err != nil {
		return err
	}
	defer ar.Close()
	if st.drawnSeed {
		fmt.Fprintf(env.Stderr, "seed %d\n", st.cfg.Seed)
	}

	src := st.recorded(st.src)
	var prog *progress
	if env.StderrIsTerminal {
		prog = &progress{w: env.Stderr, total: limit}
		src = prog.wrap(src)
	}
	start := time.Now()
	err = ar.Run(ctx, src, limit)
	elapsed := time.Since(start)
	prog.done()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w after %d ticks", errInterrupted, ar.Ticks())
		}
		return err
	}
	if ar.Ticks() == 0 {
		return fmt.Errorf("the feed gave no ticks")
	}
	fmt.Fprintf(env.Stderr, "%d ticks, %d agent-ticks in %s (%.1fM agent-ticks/s)\n",
		ar.Ticks(), ar.AgentTicks(), elapsed.Round(time.Millisecond), float64(ar.AgentTicks())/elapsed.Seconds()/1e6)

	rep := newReport(ar, st, rec)
	var buf bytes.Buffer
	switch *format {
	case "json":
		err = rep.writeJSON(&buf)
	case "csv":
		err = rep.writeCSV(&buf)
	default:
		err = rep.writeTable(&buf)
	}
	if err != nil {
		return err
	}
	return writeOutput(env.Stdout, *out, buf.Bytes())
}

// writeOutput writes b to path (mode 0640, replacing the file whole), or
// to w when path is empty.
func writeOutput(w io.Writer, path string, b []byte) error {
	if path == "" {
		_, err := w.Write(b)
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// recorder is the arena's sink for offline runs: it counts events, keeps
// every birth and round, and keeps the trade ledger when asked.
type recorder struct {
	keepTrades bool
	trades     []tradeRow
	spawns     []spawnRow
	rounds     []roundRow
	counts     map[arena.EventType]int
}

func (r *recorder) Emit(e arena.Event) error {
	if r.counts == nil {
		r.counts = map[arena.EventType]int{}
	}
	r.counts[e.Type]++
	switch {
	case r.keepTrades && e.Trade != nil:
		r.trades = append(r.trades, tradeRow{Seq: e.Seq, Tick: e.Tick, Time: e.Time, TradeEvent: *e.Trade})
	case e.Spawn != nil:
		r.spawns = append(r.spawns, spawnRow{Seq: e.Seq, Tick: e.Tick, SpawnEvent: *e.Spawn})
	case e.Round != nil:
		r.rounds = append(r.rounds, roundRow{Seq: e.Seq, Tick: e.Tick, RoundResult: *e.Round})
	}
	return nil
}

// progress draws a bar on a terminal's stderr while a run goes on.
type progress struct {
	w     io.Writer
	total int64
	n     int64
	last  time.Time
}

type countingSource struct {
	src arena.TickSource
	p   *progress
}

func (c *countingSource) Next(ctx context.Context) (market.Tick, error) {
	tk, err := c.src.Next(ctx)
	if err == nil {
		c.p.n++
		if c.p.n&4095 == 0 {
			c.p.draw()
		}
	}
	return tk, err
}

func (p *progress) wrap(src arena.TickSource) arena.TickSource {
	return &countingSource{src: src, p: p}
}

func (p *progress) draw() {
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r%d ticks", p.n)
		return
	}
	const width = 30
	done := int(p.n * width / p.total)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < done {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r[%s] %3d%% %d/%d ticks", bar, p.n*100/p.total, p.n, p.total)
}

func (p *progress) done() {
	if p != nil {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
