package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// writeCheckpointedRun writes a data dir of at least n events of the
// founding roster, with one checkpoint tail events before the end (its
// file and its event in the chain), and returns the dir.
func writeCheckpointedRun(tb testing.TB, n, tail uint64) string {
	tb.Helper()
	dir := tb.TempDir()
	l, err := eventlog.Open(filepath.Join(dir, "events"), eventlog.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	h := &history{log: l}
	ar, err := arena.New(arena.Config{Symbols: market.DefaultSymbols, Seed: 1, FirstSeq: 1}, arena.DefaultRoster(), h)
	if err != nil {
		tb.Fatal(err)
	}
	g := newGenesis(ar.Config(), Founding{Feed: "sim", Roster: arena.DefaultRoster()}, time.Unix(0, 0).UTC())
	payload, _ := json.Marshal(g)
	if _, err := l.Append(0, g.Created, genesisType, payload); err != nil {
		tb.Fatal(err)
	}
	src := feed.NewSim(feed.SimConfig{Seed: 1, Interval: 5 * time.Second})
	checkpointed := false
	for ar.NextSeq() < n {
		tk, _ := src.Next(tb.Context())
		if err := ar.Step(tk); err != nil {
			tb.Fatal(err)
		}
		if ar.Ticks()%1000 == 0 {
			if err := ar.EmitAgentStates(tk.Time); err != nil {
				tb.Fatal(err)
			}
		}
		if !checkpointed && ar.NextSeq()+tail >= n {
			checkpointed = true
			data, err := ar.Checkpoint()
			if err != nil {
				tb.Fatal(err)
			}
			c := &checkpointer{dir: filepath.Join(dir, checkpointDir)}
			if err := c.write(ar.NextSeq(), data); err != nil {
				tb.Fatal(err)
			}
			sum := sha256.Sum256(data)
			ev := arena.CheckpointEvent{StateSeq: ar.NextSeq(), Ticks: ar.Ticks(), SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
			if err := ar.EmitCheckpoint(tk.Time, ev); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := h.Commit(); err != nil {
		tb.Fatal(err)
	}
	ar.Close()
	l.Close()
	return dir
}

// BenchmarkRestart measures a restart's rebuild of a million-event log,
// from a checkpoint 25,000 events before its end (about half the default
// interval of 10,000 five-symbol steps) and, with the checkpoint files
// removed, by a full replay. Both check the whole hash chain.
func BenchmarkRestart(b *testing.B) {
	const events, tail = 1_000_000, 25_000
	dir := writeCheckpointedRun(b, events, tail)
	full := filepath.Join(b.TempDir(), "full")
	if err := os.CopyFS(full, os.DirFS(dir)); err != nil {
		b.Fatal(err)
	}
	os.RemoveAll(filepath.Join(full, checkpointDir))
	for _, c := range []struct{ name, dir string }{{"checkpoint", dir}, {"full", full}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				rb := &rebuilder{found: func(g Genesis, s arena.Sink) (*arena.Arena, error) {
					return arena.New(g.Config(), g.Roster, s)
				}, restore: func(g Genesis, data []byte, s arena.Sink) (*arena.Arena, error) {
					return arena.Restore(g.Config(), data, s)
				}}
				if err := rb.planRestart(c.dir, false); err != nil {
					b.Fatal(err)
				}
				l, err := eventlog.Open(filepath.Join(c.dir, "events"), eventlog.Options{Visit: rb.visit, TrustBefore: rb.plan.oldest()})
				if err == nil {
					err = rb.finish(b.Context(), l)
				}
				if err != nil || rb.ar.NextSeq() < events || (c.name == "checkpoint") != (rb.fromSeq > 1) {
					b.Fatalf("rebuilt to %d from %d: %v", rb.ar.NextSeq(), rb.fromSeq, err)
				}
				rb.ar.Close()
				l.Close()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/restart")
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
