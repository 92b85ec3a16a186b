package edge_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/internal/natstest"
	"github.com/lineage-arena/lineage/market"
)

// BenchmarkEdgeCatchUp: an edge with no client reads b.N steps of 5 market
// events each (one a symbol, one atomic batch a step, as natspub writes
// them) from an embedded JetStream server (R1, memory storage), checks
// each message's sequence, link and record hash, decodes it, advances its
// snapshot and hands each batch to its hub; it reports the events/s from
// Open to the last event delivered. The stream is written before the
// timer starts; the NATS server runs in the benchmark's process and shares
// its cores.
//
//	go test ./edge -run xxx -bench EdgeCatchUp -benchtime 20000x
func BenchmarkEdgeCatchUp(b *testing.B) {
	ns := natstest.Start(b, "", 0)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	const stream, subject, bucket = "BENCH", "bench.events", "BENCH_SNAP"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{subject}, Storage: jetstream.MemoryStorage, AllowAtomicPublish: true,
	}); err != nil {
		b.Fatal(err)
	}
	syms := market.DefaultSymbols
	var genesis [32]byte
	genesis[0] = 1
	snap := &arena.Snapshot{NextSeq: 1, Marks: make([]arena.MarketEvent, len(syms))}
	for i, s := range syms {
		snap.Symbols = append(snap.Symbols, string(s))
		snap.Marks[i] = arena.MarketEvent{Symbol: s, Price: market.Price(1e10)}
	}
	putSnapshot(b, js, bucket, snap, genesis)

	// The stream: b.N steps, each an atomic batch of one event a symbol.
	start := time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC)
	prev, seq := genesis, uint64(0)
	for step := range b.N {
		at := start.Add(time.Duration(step) * time.Second)
		id := nuid.Next()
		for i, s := range syms {
			seq++
			ev := arena.Event{Seq: seq, Tick: int64(step), Time: at, Type: arena.EventMarket,
				Market: &arena.MarketEvent{Symbol: s, Price: market.Price(1e10 + step%1000), ChangePercent: 0.1, Source: "sim"}}
			payload, err := json.Marshal(ev)
			if err != nil {
				b.Fatal(err)
			}
			hash := eventlog.Hash(seq, at, string(ev.Type), prev, payload)
			m := nats.NewMsg(subject)
			m.Header.Set("Nats-Batch-Id", id)
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
			m.Header.Set(edge.HeaderSeq, strconv.FormatUint(seq, 10))
			m.Header.Set(edge.HeaderHash, hex.EncodeToString(hash[:]))
			m.Header.Set(edge.HeaderPrev, hex.EncodeToString(prev[:]))
			m.Header.Set(edge.HeaderTime, strconv.FormatInt(at.UnixNano(), 10))
			m.Header.Set(edge.HeaderType, string(ev.Type))
			m.Data = payload
			prev = hash
			if i < len(syms)-1 {
				if err := nc.PublishMsg(m); err != nil {
					b.Fatal(err)
				}
				continue
			}
			m.Header.Set("Nats-Batch-Commit", "1")
			reply, err := nc.RequestMsg(m, 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if bytes.Contains(reply.Data, []byte(`"error"`)) {
				b.Fatalf("batch %d: %s", step, reply.Data)
			}
		}
	}

	b.ResetTimer()
	e, err := edge.Open(ctx, edge.Config{URL: ns.ClientURL(), Stream: stream, SnapshotBucket: bucket, MaxLag: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for e.Stats().Delivered < seq {
		select {
		case <-tick.C:
		case <-deadline:
			b.Fatalf("edge delivered %d of %d events in a minute: %v", e.Stats().Delivered, seq, e.Ready())
		}
	}
	b.StopTimer()
	if st := e.Stats(); st.ChainFailures != 0 || st.Messages != seq {
		b.Fatalf("edge stats %+v: want %d messages verified, no chain failure", st, seq)
	}
	b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "events/s")
}

// putSnapshot writes s to the bucket as natspub does: tagged with the
// sequence it stands at (NextSeq − 1) and that record's hash.
func putSnapshot(b *testing.B, js jetstream.JetStream, bucket string, s *arena.Snapshot, hash [32]byte) {
	b.Helper()
	obs, err := js.CreateObjectStore(b.Context(), jetstream.ObjectStoreConfig{Bucket: bucket, Storage: jetstream.MemoryStorage})
	if err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	h := nats.Header{}
	h.Set(edge.HeaderSeq, fmt.Sprint(s.NextSeq-1))
	h.Set(edge.HeaderHash, hex.EncodeToString(hash[:]))
	if _, err := obs.Put(b.Context(), jetstream.ObjectMeta{Name: edge.SnapshotObject, Headers: h}, bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
}
