package natspub

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/internal/natstest"
)

// benchPayload is an event's JSON as the log holds it, 256 bytes: a market
// event is about 200, an agent's state about 300.
var benchPayload = []byte(`{"event_type":"market","market":{"symbol":"BTC-USD","price":45150.32,"timestamp":"2026-02-03T14:30:45.123456789Z",` +
	`"change_percent":0.45,"source":"sim","stale":false},"agent":null,"sequence":1042,"pad":"` +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abc" + `"}`)

// BenchmarkPublish publishes steps of 1, 30 and 1000 events into embedded
// JetStream servers and reports events/s, for three stores: one node, R1,
// memory or file storage (file without sync_always, the server's default),
// and a three-node cluster, R3, file storage, every write synced
// (natstest.Cluster, as deploy/ runs it); and three ways to publish:
//
//   - batch: the publisher's own mode — Publisher.send, one atomic batch a
//     step guarded by Nats-Expected-Last-Sequence, its messages published
//     without waiting and the commit's acknowledgement awaited;
//   - sync: each event published alone, its acknowledgement awaited before
//     the next (no batch, no guard);
//   - async: each event published alone with PublishMsgAsync, at most
//     asyncWindow unacknowledged (a publish waits for room); every
//     acknowledgement awaited at the end (no batch, no guard, no step
//     known to be in the stream).
//
// Every mode sends the publisher's headers (sequence, hashes, time, type,
// message id, so the stream's duplicate window is in use) and a 256-byte
// payload. The stream is the publisher's own configuration but for its
// storage and replicas; each case checks that the stream holds every event
// it sent. Servers and benchmark share the machine's cores.
//
//	go test ./natspub -run xxx -bench BenchmarkPublish -benchtime 2s
func BenchmarkPublish(b *testing.B) {
	one := natstest.Start(b, "", 0).ClientURL()
	three := natstest.URLs(natstest.Cluster(b, 3))
	for _, store := range []struct {
		name     string
		url      string
		storage  jetstream.StorageType
		replicas int
	}{
		{"memory-R1", one, jetstream.MemoryStorage, 1},
		{"file-R1", one, jetstream.FileStorage, 1},
		{"file-R3-sync", three, jetstream.FileStorage, 3},
	} {
		for _, mode := range []string{"batch", "sync", "async"} {
			for _, step := range []int{1, 30, 1000} {
				b.Run(fmt.Sprintf("store=%s/mode=%s/step=%d", store.name, mode, step), func(b *testing.B) {
					benchPublish(b, store.url, store.storage, store.replicas, mode, step)
				})
			}
		}
	}
}

// asyncWindow bounds the unacknowledged messages of the async mode.
const asyncWindow = 4096

func benchPublish(b *testing.B, url string, storage jetstream.StorageType, replicas int, mode string, step int) {
	ctx := b.Context()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(asyncWindow))
	if err != nil {
		b.Fatal(err)
	}
	const stream, subject = "BENCH", "bench.events"
	_ = js.DeleteStream(ctx, stream) // the previous round's
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{subject}, Storage: storage, Replicas: replicas,
		AllowAtomicPublish: true, DenyDelete: true,
		MaxBytes: 512 << 20, Discard: jetstream.DiscardOld, // a long run stays in memory
	})
	if err != nil {
		b.Fatal(err)
	}
	defer js.DeleteStream(context.Background(), stream)

	p := &Publisher{
		cfg: Config{RunID: "bench", Stream: stream, Subject: subject, MaxBatch: DefaultMaxBatch, AckTimeout: 30 * time.Second},
		nc:  nc, js: js, next: 1,
	}
	recs := make([]record, step)
	now := time.Now()
	seq := uint64(0)
	// fill makes recs the next step's records, each linking to the one
	// before (the hashes are counters, not SHA-256: nothing checks them).
	fill := func() {
		for i := range recs {
			seq++
			r := &recs[i]
			*r = record{seq: seq, time: now, typ: "market", payload: benchPayload}
			binary.BigEndian.PutUint64(r.hash[:], seq)
			binary.BigEndian.PutUint64(r.prev[:], seq-1)
		}
	}
	msg := func(r *record) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Header.Set(hdrMsgID, "bench:"+strconv.FormatUint(r.seq, 10))
		m.Header.Set(HeaderSeq, strconv.FormatUint(r.seq, 10))
		m.Header.Set(HeaderHash, fmt.Sprintf("%x", r.hash))
		m.Header.Set(HeaderPrev, fmt.Sprintf("%x", r.prev))
		m.Header.Set(HeaderTime, strconv.FormatInt(r.time.UnixNano(), 10))
		m.Header.Set(HeaderType, r.typ)
		m.Data = r.payload
		return m
	}

	b.ResetTimer()
	for range b.N {
		fill()
		switch mode {
		case "batch":
			if err := p.send(ctx, recs); err != nil {
				b.Fatal(err)
			}
		case "sync":
			for i := range recs {
				if _, err := js.PublishMsg(ctx, msg(&recs[i])); err != nil {
					b.Fatal(err)
				}
			}
		case "async":
			for i := range recs {
				if _, err := js.PublishMsgAsync(msg(&recs[i]), jetstream.WithStallWait(time.Minute)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if mode == "async" {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatalf("%d acknowledgements missing after a minute", js.PublishAsyncPending())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "events/s")

	info, err := st.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if info.State.LastSeq != seq {
		b.Fatalf("stream ends at %d, %d events sent", info.State.LastSeq, seq)
	}
}
