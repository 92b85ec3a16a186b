package natspub_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/internal/natstest"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/natspub"
)

// startNATS starts an embedded NATS server with JetStream, its file
// storage in storeDir, on port (0: any free one), stopped when the test ends.
func startNATS(t *testing.T, storeDir string, port int) *server.Server {
	return natstest.Start(t, storeDir, port)
}

func natsPort(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// jsClient is a JetStream client of the test's own, to read the stream.
func jsClient(t *testing.T, s *server.Server) jetstream.JetStream {
	t.Helper()
	return natstest.JetStream(t, s.ClientURL())
}

// run is an engine over a data dir, with the steps it committed recorded.
type run struct {
	dir string
	e   *engine.Engine

	mu     sync.Mutex
	steps  [][2]uint64 // first and last sequence of each step, across reopenings
	notify chan struct{}
}

func newRun(t *testing.T) *run {
	r := &run{dir: t.TempDir(), notify: make(chan struct{}, 1)}
	r.open(t)
	return r
}

// open opens (or reopens) the engine on the run's data dir.
func (r *run) open(t *testing.T) {
	t.Helper()
	e, err := engine.Open(t.Context(), engine.Config{
		Dir: r.dir,
		Found: func() (engine.Founding, error) {
			return engine.Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 7}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
		},
		TickInterval:  time.Millisecond,
		AgentInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Subscribe(func(s engine.Step) {
		r.mu.Lock()
		r.steps = append(r.steps, [2]uint64{s.Events[0].Seq, s.Events[len(s.Events)-1].Seq})
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
	})
	r.e = e
	t.Cleanup(func() { e.Close() })
}

func (r *run) stepCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.steps)
}

// start runs the engine over the sim feed until the returned stop is
// called; stop waits for Run to return.
func (r *run) start(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- r.e.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Symbols: market.DefaultSymbols, Seed: 7})})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("engine run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitSteps waits until the engine has committed at least n steps.
func (r *run) waitSteps(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for r.stepCount() < n {
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("engine committed %d steps in 30s, want %d", r.stepCount(), n)
		}
	}
}

// steps runs the engine for n more committed steps.
func (r *run) stepN(t *testing.T, n int) {
	t.Helper()
	stop := r.start(t)
	r.waitSteps(t, r.stepCount()+n)
	stop()
}

func (r *run) head() uint64 { return r.e.LogStats().Durable - 1 }

// records reads the log's records 1..head.
func (r *run) records(t *testing.T) []eventlog.Record {
	t.Helper()
	var out []eventlog.Record
	err := r.e.History().Records(1, r.head()+1, func(rec eventlog.Record) error {
		rec.Payload = append([]byte(nil), rec.Payload...)
		out = append(out, rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond, a real signal, until it holds or 30s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("not in 30s: %s", what)
		case <-tick.C:
		}
	}
}

// waitCaughtUp waits until the publisher has the log's head in the stream.
func waitCaughtUp(t *testing.T, p *natspub.Publisher, r *run) {
	t.Helper()
	waitFor(t, "publisher caught up", func() bool {
		s := p.Stats()
		return s.Published == r.head() && s.Lag == 0
	})
}

// checkStream checks that the stream holds exactly the log's events 1..head,
// event N at stream sequence N, with their headers and payloads, and, when
// steps is set, that each step is one atomic batch.
func checkStream(t *testing.T, js jetstream.JetStream, name, runID string, r *run, steps bool) {
	t.Helper()
	ctx := t.Context()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs := r.records(t)
	head := uint64(len(recs))
	if info.State.FirstSeq != 1 || info.State.LastSeq != head || info.State.Msgs != head {
		t.Fatalf("stream holds %d messages, sequences %d-%d; the log holds events 1-%d",
			info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, head)
	}
	msgs := make([]*jetstream.RawStreamMsg, head+1)
	for _, rec := range recs {
		m, err := st.GetMsg(ctx, rec.Seq)
		if err != nil {
			t.Fatalf("stream message %d: %v", rec.Seq, err)
		}
		msgs[rec.Seq] = m
		seq := strconv.FormatUint(rec.Seq, 10)
		for _, h := range []struct{ name, want string }{
			{natspub.HeaderSeq, seq},
			{natspub.HeaderHash, hex.EncodeToString(rec.Hash[:])},
			{natspub.HeaderPrev, hex.EncodeToString(rec.Prev[:])},
			{"Nats-Msg-Id", runID + ":" + seq},
		} {
			if got := m.Header.Get(h.name); got != h.want {
				t.Errorf("stream message %d: %s = %q, want %q", rec.Seq, h.name, got, h.want)
			}
		}
		if string(m.Data) != string(rec.Payload) {
			t.Errorf("stream message %d: payload %.60s…, the log holds %.60s…", rec.Seq, m.Data, rec.Payload)
		}
	}
	if !steps {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.steps {
		if s[1] > head {
			continue
		}
		id := msgs[s[0]].Header.Get("Nats-Batch-Id")
		if id == "" {
			t.Fatalf("stream message %d has no batch id", s[0])
		}
		if s[0] > 1 && msgs[s[0]-1].Header.Get("Nats-Batch-Id") == id {
			t.Errorf("step %d-%d shares its batch with event %d", s[0], s[1], s[0]-1)
		}
		for seq := s[0]; seq <= s[1]; seq++ {
			m := msgs[seq]
			wantCommit := ""
			if seq == s[1] {
				wantCommit = "1"
			}
			if m.Header.Get("Nats-Batch-Id") != id || m.Header.Get("Nats-Batch-Sequence") != strconv.FormatUint(seq-s[0]+1, 10) ||
				m.Header.Get("Nats-Batch-Commit") != wantCommit {
				t.Errorf("step %d-%d: message %d is batch %s #%s commit %q; want batch %s #%d commit %q", s[0], s[1], seq,
					m.Header.Get("Nats-Batch-Id"), m.Header.Get("Nats-Batch-Sequence"), m.Header.Get("Nats-Batch-Commit"),
					id, seq-s[0]+1, wantCommit)
			}
		}
	}
}

// runID is the publisher's default run id: from the genesis record's hash.
func runID(t *testing.T, r *run) string {
	t.Helper()
	var id string
	if err := r.e.History().Records(0, 1, func(rec eventlog.Record) error {
		id = hex.EncodeToString(rec.Hash[:8])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func mustOpen(t *testing.T, r *run, cfg natspub.Config) *natspub.Publisher {
	t.Helper()
	p, err := natspub.Open(t.Context(), r.e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	})
	return p
}
