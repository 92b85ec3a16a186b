package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// writeRun writes a data dir holding a sim run of the default roster of at
// least n events, as an Engine would have, with agent states every
// statesEvery ticks (0: none), and returns the dir.
func writeRun(tb testing.TB, n uint64, statesEvery int64) string {
	tb.Helper()
	dir := tb.TempDir()
	os.Chmod(dir, 0o700)
	l, err := eventlog.Open(filepath.Join(dir, "events"), eventlog.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	h := &history{log: l}
	cfg := arena.Config{Symbols: market.DefaultSymbols, Seed: 1, FirstSeq: 1}
	ar, err := arena.New(cfg, arena.DefaultRoster(), h)
	if err != nil {
		tb.Fatal(err)
	}
	g := newGenesis(ar.Config(), Founding{Feed: "sim", Roster: arena.DefaultRoster()}, time.Unix(0, 0).UTC())
	payload, _ := json.Marshal(g)
	if _, err := l.Append(0, g.Created, genesisType, payload); err != nil {
		tb.Fatal(err)
	}
	src := feed.NewSim(feed.SimConfig{Seed: 1, Interval: 5 * time.Second})
	for ar.NextSeq() < n {
		tk, _ := src.Next(tb.Context())
		if err := ar.Step(tk); err != nil {
			tb.Fatal(err)
		}
		if statesEvery > 0 && ar.Ticks()%statesEvery == 0 {
			if err := ar.EmitAgentStates(tk.Time); err != nil {
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
