package engine

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// simFounding founds a sim run of the default roster with seed.
func simFounding(seed uint64) func() (Founding, error) {
	return func() (Founding, error) {
		return Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: seed}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
	}
}

func simFeed(seed uint64) Feed {
	return Feed{Source: feed.NewSim(feed.SimConfig{Symbols: market.DefaultSymbols, Seed: seed, Interval: 5 * time.Second})}
}

// runSteps runs e until it has committed n steps, and returns the
// sequence numbers the subscriber saw.
func runSteps(t *testing.T, e *Engine, f Feed, n int) []uint64 {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var seqs []uint64
	steps := 0
	e.Subscribe(func(s Step) {
		if len(s.Events) != len(s.Hashes) || s.Snapshot == nil {
			t.Errorf("step of %d events, %d hashes, snapshot %v", len(s.Events), len(s.Hashes), s.Snapshot)
		}
		if steps++; steps <= n {
			for _, ev := range s.Events {
				seqs = append(seqs, ev.Seq)
			}
		}
		if steps == n {
			cancel()
		}
	})
	if err := e.Run(ctx, f); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return seqs
}

// A run founded, stepped and closed is rebuilt by the next Open to the
// same ledger, and goes on with the next sequence number.
func TestOpenFoundsThenResumes(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(t.Context(), Config{Dir: dir, Found: simFounding(4), TickInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	seqs := runSteps(t, e, simFeed(4), 20)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("subscriber saw %d at %d: want a gap-free sequence from 1", s, i)
		}
	}
	hash, next := e.Snapshot(), e.LogStats()
	ledger := e.ar.LedgerHash()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := e.Run(t.Context(), simFeed(4)); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}

	var stored Genesis
	e, err = Open(t.Context(), Config{Dir: dir, TickInterval: time.Millisecond, Stored: func(g Genesis) error {
		stored = g
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if stored.Seed != 4 || stored.Feed != "sim" || e.Genesis().Seed != 4 {
		t.Errorf("stored genesis %+v", stored)
	}
	if got := e.ar.LedgerHash(); got != ledger {
		t.Errorf("rebuilt ledger %s, the run ended with %s", got, ledger)
	}
	if got := e.Snapshot().NextSeq; got != hash.NextSeq {
		t.Errorf("rebuilt next sequence %d, the run ended at %d (log: %+v)", got, hash.NextSeq, next)
	}
	more := runSteps(t, e, simFeed(4), 3)
	if len(more) == 0 || more[0] != hash.NextSeq {
		t.Errorf("resumed run went on with %v, want from %d", more, hash.NextSeq)
	}
}

func TestOpenRefuses(t *testing.T) {
	if _, err := Open(t.Context(), Config{Dir: t.TempDir()}); !errors.Is(err, ErrNoRun) {
		t.Errorf("Open of an empty dir without Found = %v, want ErrNoRun", err)
	}
	dir := writeRun(t, 100, 0)
	refuse := errors.New("not this run")
	if _, err := Open(t.Context(), Config{Dir: dir, Stored: func(Genesis) error { return refuse }}); !errors.Is(err, refuse) {
		t.Errorf("Open refused by Stored = %v", err)
	}
}

// A cancelled ctx stops a long rebuild within a thousand records, and a
// founding before its genesis is written; the data dir is left as it was.
func TestOpenInterrupted(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	big := writeRun(t, 20_000, 0)
	visited := 0
	l, err := eventlog.OpenReadOnly(filepath.Join(big, "events"), eventlog.Options{Visit: interruptible(cancelled, func(eventlog.Record) error {
		visited++
		return nil
	})})
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, context.Canceled) || visited > 1024 {
		t.Errorf("a cancelled rebuild read %d records and ended with %v; want at most 1024 and %v", visited, err, context.Canceled)
	}
	if _, err := Open(cancelled, Config{Dir: big}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open cancelled while rebuilding = %v", err)
	}
	if n, err := eventlog.Verify(filepath.Join(big, "events")); err != nil || n < 20_000 {
		t.Errorf("after an interrupted rebuild: Verify = %d, %v", n, err)
	}

	fresh := filepath.Join(t.TempDir(), "fresh")
	if _, err := Open(cancelled, Config{Dir: fresh, Found: simFounding(1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open cancelled while founding = %v", err)
	}
	records := 0
	eventlog.Walk(filepath.Join(fresh, "events"), func(eventlog.Record) error { records++; return nil })
	if records != 0 {
		t.Errorf("an interrupted founding left %d records; want none", records)
	}
}

// Verify checks a run as Open does and counts its records.
func TestVerify(t *testing.T) {
	dir := writeRun(t, 3000, 100)
	a, err := Verify(t.Context(), dir)
	if err != nil || a.Records < 3000 || a.Pending != 0 {
		t.Fatalf("Verify = %+v, %v", a, err)
	}
}

// Close stops a Run going on and waits for it: nothing is committed or
// handed on once Close has returned, and Run ends with nil.
func TestCloseStopsRun(t *testing.T) {
	e, err := Open(t.Context(), Config{Dir: t.TempDir(), Found: simFounding(2), TickInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var closed atomic.Bool
	first := make(chan struct{}, 1)
	e.Subscribe(func(Step) {
		if closed.Load() {
			t.Error("a step handed on after Close returned")
		}
		select {
		case first <- struct{}{}:
		default:
		}
	})
	ran := make(chan error, 1)
	go func() { ran <- e.Run(context.Background(), simFeed(2)) }()
	<-first
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	if err := <-ran; err != nil {
		t.Errorf("Run stopped by Close = %v", err)
	}
}
