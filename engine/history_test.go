package engine

import (
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/market"
)

// The events the log refuses — at a failed rollover, in the middle of a
// step — wait in the history, in order, and a later Commit appends them
// once the log is repaired: every event reaches the observers once, in
// order, only when durable.
func TestHistoryKeepsTheEventsTheLogRefused(t *testing.T) {
	var failing atomic.Bool
	dir := t.TempDir()
	l, err := eventlog.Open(dir, eventlog.Options{SegmentBytes: 1 << 10, Fault: func(op string) error {
		if failing.Load() && op == "segment" {
			return syscall.ENOSPC
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(0, time.Unix(0, 0), genesisType, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var published []uint64
	h := &history{log: l, observers: []func(committed){func(c committed) {
		if c.event.Seq >= l.Durable() {
			t.Errorf("event %d published before it was durable (%d)", c.event.Seq, l.Durable())
		}
		published = append(published, c.event.Seq)
	}}}
	seq := uint64(1)
	step := func() {
		for range 5 {
			e := arena.Event{Seq: seq, Time: time.Unix(int64(seq), 0).UTC(), Type: arena.EventMarket,
				Market: &arena.MarketEvent{Symbol: "BTC-USD", Price: market.Price(seq)}}
			if err := h.Emit(e); err != nil {
				t.Fatalf("Emit %d: %v", seq, err)
			}
			seq++
		}
	}
	for range 5 {
		step()
		if err := h.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	failing.Store(true)
	for l.Stats().WriteFailures == 0 {
		if seq > 1000 {
			t.Fatal("no rollover in 1000 events")
		}
		step()
		if err := h.Commit(); err != nil && !errors.Is(err, eventlog.ErrWriteFailed) {
			t.Fatal(err)
		}
	}
	if len(h.queued) == 0 {
		t.Fatal("no event waits after a failed rollover")
	}
	for range 3 {
		if err := h.Commit(); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Commit while the rollover fails = %v", err)
		}
	}
	failing.Store(false)
	if err := h.Commit(); err != nil {
		t.Fatalf("Commit once the disk is back: %v", err)
	}
	step()
	if err := h.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(published) != int(seq-1) {
		t.Fatalf("%d events published, %d emitted", len(published), seq-1)
	}
	for i, s := range published {
		if s != uint64(i+1) {
			t.Fatalf("published %d at %d: a gap or a repeat", s, i)
		}
	}
	if next, _ := l.Last(); next != seq {
		t.Errorf("log ends before %d, want %d", next, seq)
	}
}
