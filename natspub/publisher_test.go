package natspub_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/natspub"
)

// Every committed event reaches the stream at its own sequence, with its
// sequence, record hash, previous hash and message id in headers and the
// log's JSON as payload; each step is one atomic batch.
func TestPublishesEveryEventAtItsSequence(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	r := newRun(t)
	p := mustOpen(t, r, natspub.Config{URL: ns.ClientURL()})
	r.stepN(t, 30)
	waitCaughtUp(t, p, r)
	id := runID(t, r)
	checkStream(t, jsClient(t, ns), "LINEAGE_"+id, id, r, true)
	s := p.Stats()
	if s.Batches != uint64(r.stepCount()) || s.Messages != r.head() || s.PublishErrors != 0 || s.Diverged {
		t.Errorf("stats %+v: want %d batches (one a step) of %d messages, no error", s, r.stepCount(), r.head())
	}
	// The first event links to the genesis record.
	var genesis [32]byte
	r.e.History().Records(0, 1, func(rec eventlog.Record) error { genesis = rec.Hash; return nil })
	m, err := mustStream(t, jsClient(t, ns), "LINEAGE_"+id).GetMsg(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(natspub.HeaderPrev); got != hex.EncodeToString(genesis[:]) {
		t.Errorf("event 1's previous hash %s, want the genesis record's %x", got, genesis)
	}
}

// A publisher closed while the engine goes on leaves a tail missing from
// the stream; the engine restarts, a new publisher reconciles and
// republishes the tail: no gap, no duplicate.
func TestRestartRepublishesTheMissingTail(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	r := newRun(t)
	cfg := natspub.Config{URL: ns.ClientURL(), Stream: "RUN", Subject: "run.events"}
	p := mustOpen(t, r, cfg)
	r.stepN(t, 10)
	waitCaughtUp(t, p, r)
	p.Close()
	p.Close() // idempotent
	published := r.head()

	r.stepN(t, 10) // not published: the stream's tail is missing
	if err := r.e.Close(); err != nil {
		t.Fatal(err)
	}
	r.open(t)
	p = mustOpen(t, r, cfg)
	waitCaughtUp(t, p, r) // the missing tail, from the log
	r.stepN(t, 10)
	waitCaughtUp(t, p, r)
	if r.head() <= published {
		t.Fatalf("log head %d, not past the first publisher's %d", r.head(), published)
	}
	checkStream(t, jsClient(t, ns), "RUN", runID(t, r), r, true)
	if s := p.Stats(); s.PublishErrors != 0 || s.Messages != r.head()-published {
		t.Errorf("stats %+v: want %d messages republished and published, no error", s, r.head()-published)
	}
}

// The NATS server stops mid-run and comes back: the engine never waits
// for it (steps go on, the queue overflows), and the publisher catches up
// from the log: no gap, no duplicate, steps still whole batches.
func TestNATSDownAndBack(t *testing.T) {
	store := t.TempDir()
	ns := startNATS(t, store, 0)
	port := natsPort(ns)
	r := newRun(t)
	p := mustOpen(t, r, natspub.Config{URL: ns.ClientURL(), Stream: "RUN", Subject: "run.events", QueueSteps: 2,
		AckTimeout: 300 * time.Millisecond, Options: []nats.Option{nats.ReconnectWait(20 * time.Millisecond)}})
	stop := r.start(t)
	waitFor(t, "10 events published", func() bool { return p.Stats().Published >= 10 })

	ns.Shutdown()
	ns.WaitForShutdown()
	n := r.stepCount()
	r.waitSteps(t, n+20) // the engine goes on without NATS
	waitFor(t, "a publish error and a queue overflow", func() bool {
		s := p.Stats()
		return s.PublishErrors > 0 && s.Overflows > 0
	})
	if s := p.Stats(); s.Lag == 0 {
		t.Errorf("stats %+v: no lag with NATS down", s)
	}

	ns = startNATS(t, store, port)
	r.waitSteps(t, r.stepCount()+10)
	stop()
	waitCaughtUp(t, p, r)
	checkStream(t, jsClient(t, ns), "RUN", runID(t, r), r, true)
}

// A stream that differs from the log — its last message's hash is not the
// log's, or it runs ahead of the log — is diverged: the publisher reports
// it and publishes nothing more, while the engine goes on.
func TestDivergedStreamStopsPublishing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		forge func(seq uint64, hash string) (uint64, string) // the header values of the stream's last message
		// tamper, if set, changes the last message's payload, which
		// carries every header of the log's record.
		tamper func(payload []byte) []byte
		extra  bool // a message after the log's head
	}{
		{name: "hash differs", forge: func(seq uint64, hash string) (uint64, string) {
			return seq, "00" + hash[2:]
		}},
		{name: "content differs", tamper: func(payload []byte) []byte {
			return bytes.Replace(payload, []byte(`"tick":`), []byte(`"tick":1`), 1)
		}},
		{name: "ahead of the log", extra: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startNATS(t, t.TempDir(), 0)
			js := jsClient(t, ns)
			r := newRun(t)
			r.stepN(t, 5)
			if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
				Name: "RUN", Subjects: []string{"run.events"}, Storage: jetstream.FileStorage, AllowAtomicPublish: true,
			}); err != nil {
				t.Fatal(err)
			}
			recs := r.records(t)
			for i, rec := range recs {
				seq, hash := rec.Seq, hex.EncodeToString(rec.Hash[:])
				h := header(seq, hash)
				payload := rec.Payload
				if i == len(recs)-1 && tc.forge != nil {
					h = header(tc.forge(seq, hash))
				}
				if i == len(recs)-1 && tc.tamper != nil {
					h.Set(natspub.HeaderPrev, hex.EncodeToString(rec.Prev[:]))
					h.Set(natspub.HeaderTime, strconv.FormatInt(rec.Time.UnixNano(), 10))
					h.Set(natspub.HeaderType, rec.Type)
					if payload = tc.tamper(payload); bytes.Equal(payload, rec.Payload) {
						t.Fatalf("payload of event %d not tampered with: %s", seq, payload)
					}
				}
				forge(t, js, h, payload)
			}
			last := uint64(len(recs))
			if tc.extra {
				forge(t, js, header(last+1, "ab"), []byte(`{}`))
				last++
			}

			p := mustOpen(t, r, natspub.Config{URL: ns.ClientURL(), Stream: "RUN", Subject: "run.events"})
			waitFor(t, "divergence reported", func() bool { return p.Stats().Diverged })
			if !errors.Is(p.Err(), natspub.ErrDiverged) {
				t.Errorf("Err() = %v, want ErrDiverged", p.Err())
			}
			r.stepN(t, 5) // the engine goes on
			p.Close()
			info, err := mustStream(t, js, "RUN").Info(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if info.State.LastSeq != last {
				t.Errorf("diverged stream grew to %d, want it left at %d", info.State.LastSeq, last)
			}
			if s := p.Stats(); s.Messages != 0 || s.Published != 0 || !s.Diverged || s.Lag != r.head() {
				t.Errorf("stats %+v: want nothing published, diverged, lag %d", s, r.head())
			}
		})
	}
}

// header is a message's headers with a sequence and a hash.
func header(seq uint64, hash string) nats.Header {
	h := nats.Header{}
	h.Set(natspub.HeaderSeq, strconv.FormatUint(seq, 10))
	h.Set(natspub.HeaderHash, hash)
	return h
}

// forge publishes a message as another writer would, outside any batch.
func forge(t *testing.T, js jetstream.JetStream, h nats.Header, payload []byte) {
	t.Helper()
	m := nats.NewMsg("run.events")
	m.Header = h
	m.Data = payload
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

func mustStream(t *testing.T, js jetstream.JetStream, name string) jetstream.Stream {
	t.Helper()
	st, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
