package edge_test

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/eventlog"
)

// deliveries records OnDeliver's calls.
type deliveries struct {
	mu    sync.Mutex
	calls [][2]time.Time // recorded, delivered
}

func (d *deliveries) onDeliver(recorded, delivered time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, [2]time.Time{recorded, delivered})
}

func (d *deliveries) take() [][2]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	return c
}

// An edge reading a stream already written hands it to the hub one atomic
// batch at a time: OnDeliver is called once per batch after the snapshot
// it started from, in order, with the batch's first event's record time
// and a time between that and now. Live as well: a batch the edge reads
// while the stream stores it is still handed over whole.
func TestOnDeliverTimesEachBatch(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 20)
	var d deliveries
	// An edge starts at the latest snapshot: until it has events after
	// it, the engine steps on and a new edge opens.
	var (
		e    *edge.Edge
		from uint64
	)
	for attempt := 1; ; attempt++ {
		s.run(t, 3)
		e, _ = openEdge(t, ns, edge.Config{MaxLag: -1, Backfill: -1, OnDeliver: d.onDeliver})
		waitFor(t, "edge caught up", func() bool { return e.Ready() == nil && e.Stats().Delivered == s.head() })
		if from = e.Stats().SnapshotSeq; from < s.head() {
			break
		}
		if attempt == 5 {
			t.Fatalf("5 edges started at the stream's end: nothing to deliver")
		}
		e.Close(time.Second)
		d.take()
	}
	want := batchTimes(t, ns, s, from+1, s.head())
	calls := d.take()
	if len(calls) != len(want) {
		t.Fatalf("%d OnDeliver calls for the %d batches after event %d", len(calls), len(want), from)
	}
	checkDelays(t, calls, want, time.Now())

	last := s.head()
	s.run(t, 20)
	waitFor(t, "edge caught up", func() bool { return e.Stats().Delivered == s.head() })
	now := time.Now()
	calls = d.take()
	want = batchTimes(t, ns, s, last+1, s.head())
	events := map[time.Time]bool{}
	if err := s.e.History().Records(last+1, s.head()+1, func(r eventlog.Record) error {
		events[r.Time] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Live too, whole batches only: one call per batch, even for a batch
	// the edge reads while the stream stores it.
	if len(calls) != len(want) {
		t.Fatalf("live: %d OnDeliver calls for %d batches of %d events", len(calls), len(want), s.head()-last)
	}
	for i, c := range calls {
		if !events[c[0]] {
			t.Errorf("live call %d: recorded %v, the time of no event delivered", i, c[0])
		}
	}
	checkDelays(t, calls, want, now)
}

// checkDelays compares OnDeliver's calls with the batches' times.
func checkDelays(t *testing.T, calls [][2]time.Time, want []time.Time, now time.Time) {
	t.Helper()
	for i, c := range calls {
		recorded, delivered := c[0], c[1]
		if !recorded.Equal(want[i]) {
			t.Errorf("batch %d: recorded %v, want its first event's record time %v", i, recorded, want[i])
		}
		if delivered.Before(recorded) || delivered.After(now) {
			t.Errorf("batch %d: delivered %v, not between its record time %v and now %v", i, delivered, recorded, now)
		}
		if i > 0 && delivered.Before(calls[i-1][1]) {
			t.Errorf("batch %d delivered at %v, before batch %d (%v)", i, delivered, i-1, calls[i-1][1])
		}
	}
}

// batchTimes is the record time of the first event of each of the
// stream's atomic batches that start in from..to.
func batchTimes(t *testing.T, ns *server.Server, s *stack, from, to uint64) []time.Time {
	t.Helper()
	times := map[uint64]time.Time{}
	if err := s.e.History().Records(from, to+1, func(r eventlog.Record) error {
		times[r.Seq] = r.Time
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(t.Context(), streamName)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for seq := from; seq <= to; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get("Nats-Batch-Sequence") == "1" {
			out = append(out, times[seq])
		}
	}
	return out
}
