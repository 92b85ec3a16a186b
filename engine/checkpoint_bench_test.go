package engine

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// benchAgentSteps is how often, in time steps, a generated run emits
// every agent's state. A server does it every AgentInterval (10 s, every
// other 5 s step), which makes an event about twice as large on average
// (650 against 330 bytes) and a 100 M event log too big for the benchmark
// machine's disk; what a restart from a checkpoint costs depends on the
// events in the checkpoint interval and the segments, not on this.
const benchAgentSteps = 1000

// generateRun writes to dir, a data dir that must not exist, a run of the
// founding roster of at least n events as a server writes it: founded by
// Open, one commit per five-symbol time step of the sim feed, every
// agent's state every benchAgentSteps steps, the dead buried, the trade
// book kept, and the engine's checkpointer at the default step interval
// (a checkpoint and its trade file every 10,000 commits, the newest three
// kept); the 10-minute trigger is off, since offline the sim's clock runs
// far ahead of a wall clock. Commits are not fsynced one by one (the log
// syncs every 4 MiB buffered): the bytes on disk are those a server writes.
func generateRun(tb testing.TB, dir string, n uint64) {
	tb.Helper()
	e, err := Open(tb.Context(), Config{
		Dir: dir, CheckpointSteps: DefaultCheckpointSteps, CheckpointInterval: -1,
		Clock: func() time.Time { return time.Unix(0, 0).UTC() },
		Found: func() (Founding, error) {
			return Founding{Feed: "sim", Roster: arena.DefaultRoster(), Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 1}}, nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ar, h := e.ar, e.h
	commit := func(at time.Time) {
		for _, c := range h.pending {
			for _, o := range h.observers {
				o(c)
			}
		}
		h.pending = h.pending[:0]
		if err := e.u.flush(); err != nil {
			tb.Fatal(err)
		}
		if err := e.ckpt.afterCommit(ar, at); err != nil {
			tb.Fatal(err)
		}
	}
	src := feed.NewSim(feed.SimConfig{Seed: 1, Interval: 5 * time.Second})
	var at time.Time
	for step := 1; ar.NextSeq() < n; step++ {
		for range market.DefaultSymbols {
			tk, err := src.Next(tb.Context())
			if err != nil {
				tb.Fatal(err)
			}
			if err := ar.Step(tk); err != nil {
				tb.Fatal(err)
			}
			at = tk.Time
		}
		commit(at)
		if step%benchAgentSteps == 0 {
			if err := ar.EmitAgentStates(at); err != nil {
				tb.Fatal(err)
			}
			commit(at)
		}
	}
	if w, ok := e.ckpt.wait(); ok {
		if err := e.ckpt.record(ar, w, at); err != nil {
			tb.Fatal(err)
		}
	}
	if err := h.Commit(); err != nil {
		tb.Fatal(err)
	}
	if err := e.Close(); err != nil {
		tb.Fatal(err)
	}
}

// benchRun returns a data dir holding a generated run of at least n
// events. With LINEAGE_BENCH_DIR set the run is kept there, as
// events-<n>, and reused by later runs (a directory without its .done
// marker, a generation cut short, is generated again); otherwise it is
// generated in a temporary directory.
func benchRun(b *testing.B, n uint64) string {
	b.Helper()
	root := os.Getenv("LINEAGE_BENCH_DIR")
	if root == "" {
		root = b.TempDir()
	}
	dir := filepath.Join(root, fmt.Sprintf("events-%d", n))
	done := dir + ".done"
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	generateRun(b, dir, n)
	took := time.Since(start)
	size := dirBytes(b, filepath.Join(dir, "events"))
	note := fmt.Sprintf("generated %d events in %s: log %.2f GB (%d bytes)\n", n, took.Round(time.Second), float64(size)/1e9, size)
	b.Log(note)
	if err := os.WriteFile(done, []byte(note), 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

// dirBytes is the size of the files under dir.
func dirBytes(tb testing.TB, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// benchEvents is the log sizes BenchmarkRestart measures:
// LINEAGE_BENCH_EVENTS, a comma-separated list (e.g.
// 1000000,10000000,100000000), default one million.
func benchEvents(b *testing.B) []uint64 {
	v := os.Getenv("LINEAGE_BENCH_EVENTS")
	if v == "" {
		return []uint64{1_000_000}
	}
	var ns []uint64
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || n == 0 {
			b.Fatalf("LINEAGE_BENCH_EVENTS: %q is not a positive event count", f)
		}
		ns = append(ns, n)
	}
	return ns
}

// BenchmarkRestart measures a restart of a generated run (generateRun) of
// each size LINEAGE_BENCH_EVENTS lists: "checkpoint" is Open and Close of
// the engine on the data dir — the rebuild from the newest checkpoint and
// the log's tail, the seals of the segments before the oldest kept
// checkpoint, the trade file, the graveyard — and "full" the rebuild of
// the same log without its checkpoints, every event replayed. Both check
// the whole hash chain. The log's size on disk is reported (log-MB).
func BenchmarkRestart(b *testing.B) {
	for _, n := range benchEvents(b) {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			dir := benchRun(b, n)
			logMB := float64(dirBytes(b, filepath.Join(dir, "events"))) / 1e6
			b.Run("checkpoint", func(b *testing.B) {
				for range b.N {
					e, err := Open(b.Context(), Config{Dir: dir})
					if err != nil {
						b.Fatal(err)
					}
					if e.ar.NextSeq() < n || e.log.Stats().Records < n {
						b.Fatalf("rebuilt to %d", e.ar.NextSeq())
					}
					if err := e.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/restart")
				b.ReportMetric(logMB, "log-MB")
			})
			b.Run("full", func(b *testing.B) {
				for range b.N {
					rb := &rebuilder{seen: newTradeBook().observe, found: func(g Genesis, s arena.Sink) (*arena.Arena, error) {
						return arena.New(g.Config(), g.Roster, s)
					}}
					l, err := eventlog.Open(filepath.Join(dir, "events"), eventlog.Options{Visit: rb.visit})
					if err == nil {
						err = rb.finish(b.Context(), l)
					}
					if err != nil || rb.ar.NextSeq() < n {
						b.Fatalf("rebuilt to %d: %v", rb.ar.NextSeq(), err)
					}
					rb.ar.Close()
					l.Close()
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/restart")
				b.ReportMetric(logMB, "log-MB")
			})
		})
	}
}

// BenchmarkCheckpointEncode measures a checkpoint's pause — the copy of
// the arena's state taken between two steps on the engine's goroutine
// (ms/pause) — and the whole of it with the encoding the writer goroutine
// does (ms/encode), and its size, at 3, 1,000 and 4,000 agents after 3,000
// ticks.
func BenchmarkCheckpointEncode(b *testing.B) {
	for _, n := range []int{3, 1000, 4000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			roster := arena.DefaultRoster()
			if n != 3 {
				roster = arena.GenerateRoster(n, 1)
			}
			ar, err := arena.New(arena.Config{Symbols: market.DefaultSymbols, Seed: 1}, roster, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer ar.Close()
			if err := ar.Run(b.Context(), feed.NewSim(feed.SimConfig{Seed: 1}), 3000); err != nil {
				b.Fatal(err)
			}
			var size int
			var pause time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				st, err := ar.CheckpointState()
				pause += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				data, err := st.Encode()
				if err != nil {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.ReportMetric(float64(size), "bytes")
			b.ReportMetric(float64(pause.Microseconds())/1000/float64(b.N), "ms/pause")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/encode")
		})
	}
}
