package edge_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/internal/natstest"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/natspub"
)

// BenchmarkHistoryFromStream measures a resume of every event of a
// stream (LINEAGE_BENCH_EVENTS, default 100,000) from an edge whose ring
// holds the last 4,096: the History's Replay, without a client. "cold"
// is a new edge each time, which learns its marks first; "warm" an edge
// that knows them. The events are a real run's, renumbered.
func BenchmarkHistoryFromStream(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("LINEAGE_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	url := benchStream(b, n)
	open := func(b *testing.B) *edge.Edge {
		e, err := edge.Open(b.Context(), edge.Config{URL: url, Stream: "BENCH", SnapshotBucket: "BENCH_SNAP", MaxLag: -1,
			RingEvents: 4096, HistoryTimeout: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		benchReady(b, e)
		return e
	}
	replay := func(b *testing.B, e *edge.Edge) {
		count := 0
		err := edge.Replay(e, 1, uint64(n)+1, func(arena.Event) error { count++; return nil })
		if err != nil || count != n {
			b.Fatalf("replay: %d events, %v", count, err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			e := open(b)
			b.StartTimer()
			replay(b, e)
			b.StopTimer()
			e.Close(time.Second)
			b.StartTimer()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("warm", func(b *testing.B) {
		e := open(b)
		defer e.Close(time.Second)
		replay(b, e)
		b.ResetTimer()
		for range b.N {
			replay(b, e)
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// benchStream starts NATS with a stream BENCH of n events — a real run's,
// renumbered, hash-chained as the event log chains them — and a snapshot
// at its last in bucket BENCH_SNAP, and returns the server's URL.
func benchStream(b *testing.B, n int) string {
	b.Helper()
	ns := natstest.Start(b, "", 0)
	eng, err := engine.Open(b.Context(), engine.Config{
		Dir: b.TempDir(),
		Found: func() (engine.Founding, error) {
			return engine.Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 7}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
		},
		TickInterval: time.Millisecond, AgentInterval: 3 * time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	ctx, stop := context.WithCancel(b.Context())
	steps := 0
	eng.Subscribe(func(engine.Step) {
		if steps++; steps == 100 {
			stop()
		}
	})
	if err := eng.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Symbols: market.DefaultSymbols, Seed: 7})}); err != nil {
		b.Fatal(err)
	}
	var sample []arena.Event
	eng.History().Replay(1, eng.Snapshot().NextSeq, func(e arena.Event) error { sample = append(sample, e); return nil })

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(b.Context(), jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.events"}}); err != nil {
		b.Fatal(err)
	}
	var prev [32]byte
	var last arena.Event
	for seq := uint64(1); seq <= uint64(n); seq++ {
		ev := sample[int(seq-1)%len(sample)]
		ev.Seq = seq
		data, _ := json.Marshal(ev)
		h := eventlog.Hash(seq, ev.Time, string(ev.Type), prev, data)
		m := nats.NewMsg("bench.events")
		m.Data = data
		m.Header.Set(natspub.HeaderSeq, strconv.FormatUint(seq, 10))
		m.Header.Set(natspub.HeaderHash, hex.EncodeToString(h[:]))
		m.Header.Set(natspub.HeaderPrev, hex.EncodeToString(prev[:]))
		m.Header.Set(natspub.HeaderTime, strconv.FormatInt(ev.Time.UnixNano(), 10))
		m.Header.Set(natspub.HeaderType, string(ev.Type))
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
		if seq%4096 == 0 {
			<-js.PublishAsyncComplete()
		}
		prev, last = h, ev
	}
	<-js.PublishAsyncComplete()
	obs, err := js.CreateObjectStore(b.Context(), jetstream.ObjectStoreConfig{Bucket: "BENCH_SNAP"})
	if err != nil {
		b.Fatal(err)
	}
	snap := *eng.Snapshot()
	snap.NextSeq, snap.Time = uint64(n)+1, last.Time
	data, _ := json.Marshal(snap)
	hdr := nats.Header{}
	hdr.Set(natspub.HeaderSeq, strconv.Itoa(n))
	hdr.Set(natspub.HeaderHash, hex.EncodeToString(prev[:]))
	if _, err := obs.Put(b.Context(), jetstream.ObjectMeta{Name: natspub.SnapshotObject, Headers: hdr}, bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	return ns.ClientURL()
}

// BenchmarkRingMemory measures what the ring costs: the heap of an edge
// whose ring holds 65,536 events less that of one whose ring holds 1,
// both backfilled with 65,536 events (B/ring-event), and the time the
// backfill takes, from Open to Ready (s/backfill).
func BenchmarkRingMemory(b *testing.B) {
	const ring = 65536
	url := benchStream(b, ring+1000)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var perEvent, backfill float64
	for range b.N {
		var h [2]uint64
		for i, size := range []int{1, ring} {
			start := time.Now()
			e, err := edge.Open(b.Context(), edge.Config{URL: url, Stream: "BENCH", SnapshotBucket: "BENCH_SNAP", MaxLag: -1,
				RingEvents: size, Backfill: ring})
			if err != nil {
				b.Fatal(err)
			}
			benchReady(b, e)
			backfill += time.Since(start).Seconds() / 2
			h[i] = heap()
			e.Close(time.Second)
		}
		perEvent += (float64(h[1]) - float64(h[0])) / ring
	}
	b.ReportMetric(perEvent/float64(b.N), "B/ring-event")
	b.ReportMetric(backfill/float64(b.N), "s/backfill")
}

// benchReady waits, a minute at most, for e to be ready.
func benchReady(b *testing.B, e *edge.Edge) {
	b.Helper()
	deadline := time.After(time.Minute)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for e.Ready() != nil {
		select {
		case <-deadline:
			b.Fatalf("edge not ready in a minute: %v", e.Ready())
		case <-tick.C:
		}
	}
}
