package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// BenchmarkRebuild measures how long a restart takes to open a data dir
// holding one million events of the founding roster and rebuild the arena
// from it, every event recomputed and compared with the log.
func BenchmarkRebuild(b *testing.B) {
	const events = 1_000_000
	dir := filepath.Join(b.TempDir(), "events")
	l, err := eventlog.Open(dir, eventlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := &history{log: l}
	cfg := arena.Config{Symbols: market.DefaultSymbols, Seed: 1, FirstSeq: 1}
	ar, err := arena.New(cfg, arena.DefaultRoster(), h)
	if err != nil {
		b.Fatal(err)
	}
	g := newGenesis(ar.Config(), "sim", arena.DefaultRoster(), time.Unix(0, 0))
	payload, _ := json.Marshal(g)
	if _, err := l.Append(0, g.Created, genesisType, payload); err != nil {
		b.Fatal(err)
	}
	src := feed.NewSim(feed.SimConfig{Seed: 1})
	for ar.NextSeq() < events {
		tk, _ := src.Next(context.Background())
		if err := ar.Step(tk); err != nil {
			b.Fatal(err)
		}
		if ar.Ticks()%1000 == 0 {
			if err := ar.EmitAgentStates(tk.Time); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := h.Commit(); err != nil {
		b.Fatal(err)
	}
	ar.Close()
	l.Close()
	b.ResetTimer()
	for range b.N {
		rb := &rebuilder{found: func(g genesis, s arena.Sink) (*arena.Arena, error) {
			return arena.New(g.config(), g.Roster, s)
		}}
		l, err := eventlog.Open(dir, eventlog.Options{Visit: rb.visit})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := rb.complete(&history{log: l}); err != nil || n != 0 || rb.ar.NextSeq() < events {
			b.Fatalf("rebuilt to %d, %d events to complete, %v", rb.ar.NextSeq(), n, err)
		}
		rb.ar.Close()
		l.Close()
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
