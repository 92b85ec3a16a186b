package edge_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/internal/natstest"
	"github.com/lineage-arena/lineage/natspub"
)

// Small marks and spans, so that a test run of a few hundred events reads
// the stream in many chunks and learns its marks over several spans.
const (
	testMarkEvery = 8
	testSpan      = 32
)

// openTuned opens an edge as openEdge does, with small marks and the hook.
func openTuned(t *testing.T, ns *server.Server, cfg edge.Config, hook func(context.Context) error) (*edge.Edge, string) {
	t.Helper()
	cfg.URL, cfg.SnapshotBucket = ns.ClientURL(), bucketName
	if cfg.Stream == "" {
		cfg.Stream = streamName
	}
	e, err := edge.OpenTuned(t.Context(), cfg, testMarkEvery, testSpan, hook)
	if err != nil {
		t.Fatal(err)
	}
	return e, serveEdge(t, e)
}

// follow reads c's frames until event last, checking that the events come
// exactly once, in order, without a gap, from next on; a resume message
// or a snapshot fails the test. It returns the event after last.
func (c *rawClient) follow(t *testing.T, next, last uint64) uint64 {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for next <= last {
		select {
		case b, ok := <-c.frames:
			if !ok {
				t.Fatalf("connection ended before event %d: %v", next, c.err)
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("frame %s: %v", b, err)
			}
			switch {
			case f.Type == "resume" || f.Snapshot:
				t.Fatalf("before event %d: %s", next, b)
			case f.Event != "":
				if f.Seq != next {
					t.Fatalf("event %d where %d was next", f.Seq, next)
				}
				next++
			}
		case <-deadline:
			t.Fatalf("event %d not in 30s", next)
		}
	}
	return next
}

// closed reads c's frames until the connection ends and returns the
// sequences of the events it got and its close code.
func (c *rawClient) closed(t *testing.T) ([]uint64, int) {
	t.Helper()
	var seqs []uint64
	deadline := time.After(30 * time.Second)
	for {
		select {
		case b, ok := <-c.frames:
			if !ok {
				var ce wsutil.ClosedError
				if !errors.As(c.err, &ce) {
					t.Fatalf("connection ended without a close frame: %v", c.err)
				}
				return seqs, int(ce.Code)
			}
			var f frame
			json.Unmarshal(b, &f)
			if f.Event != "" {
				seqs = append(seqs, f.Seq)
			}
		case <-deadline:
			t.Fatal("connection not closed in 30s")
		}
	}
}

// A client resuming from before the edge's ring gets every event from
// the stream and then the ring, exactly once, in order, without a gap,
// then the live ones; a second one does, with the marks the first read
// learnt; /api/events pages are the log's.
func TestResumeFromStream(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 40)
	e, url := openTuned(t, ns, edge.Config{MaxLag: -1, RingEvents: 20, Backfill: 5}, nil)
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil && e.Stats().Delivered == s.head() })
	head := s.head()
	if head < 4*testSpan {
		t.Fatalf("only %d events: the test wants several spans", head)
	}

	c := dialRaw(t, url+"?since=0")
	next := c.follow(t, 1, head)
	mid := dialRaw(t, url+"?since="+strconv.FormatUint(head/3, 10))
	midNext := mid.follow(t, head/3+1, head)
	s.run(t, 5)
	waitFor(t, "edge caught up", func() bool { return e.Stats().Delivered == s.head() })
	c.follow(t, next, s.head())
	mid.follow(t, midNext, s.head())
	if st := e.Stats(); st.ChainFailures != 0 {
		t.Errorf("stats %+v: chain failures", st)
	}

	// /api/events: the log's JSON, from the stream and the ring alike.
	for _, since := range []uint64{0, 3, testMarkEvery - 1, head / 2, s.head() - 25, s.head() - 1, s.head()} {
		got, err := e.Events(since, 30)
		if err != nil {
			t.Fatalf("Events(%d): %v", since, err)
		}
		want, err := s.e.History().Events(since, 30)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("Events(%d): %d events, the log gives %d", since, len(got), len(want))
		}
		for i := range got {
			if string(got[i]) != string(want[i]) {
				t.Fatalf("Events(%d)[%d]: %s, the log's %s", since, i, got[i], want[i])
			}
		}
	}
}

// A stream whose retention removed its first events: a resume from before
// them gets "truncated" from the stream's first, then every event from
// there; /api/events before it is ErrTruncated.
func TestResumeTruncatedByRetention(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 40)
	js := jetStream(t, ns)
	st, err := js.Stream(t.Context(), streamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgs = 100
	if _, err := js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first := info.State.FirstSeq
	if first <= 1 {
		t.Fatalf("the stream still starts at %d", first)
	}

	e, url := openTuned(t, ns, edge.Config{MaxLag: -1, RingEvents: 20, Backfill: -1}, nil)
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil && e.Stats().Delivered == s.head() })
	c := dialRaw(t, url+"?since=3")
	var f frame
	if json.Unmarshal(c.next(t), &f); f.Type != "welcome" {
		t.Fatalf("first frame %+v, want the welcome", f)
	}
	var m struct {
		Type, Code string
		From, To   uint64
	}
	if err := json.Unmarshal(c.next(t), &m); err != nil || m.Type != "resume" || m.Code != "truncated" || m.From != first || m.To != s.head() {
		t.Fatalf("resume from before the stream: %+v (%v), want truncated from %d to %d", m, err, first, s.head())
	}
	c.follow(t, first, s.head())

	if _, err := e.Events(first-2, 10); !errors.Is(err, edge.ErrTruncated) {
		t.Errorf("Events before the stream's first: %v, want ErrTruncated", err)
	}
	got, err := e.Events(first-1, 10)
	if err != nil || len(got) != 10 || !strings.Contains(string(got[0]), `"sequence":`+strconv.FormatUint(first, 10)+`,`) {
		t.Errorf("Events from the stream's first: %d events, %v", len(got), err)
	}
}

func jetStream(t *testing.T, ns *server.Server) jetstream.JetStream {
	t.Helper()
	return natstest.JetStream(t, ns.ClientURL())
}

// copyStream copies the run's stream into stream name (made anew), with
// forge(seq, msg) changing what it likes in each message first.
func copyStream(t *testing.T, ns *server.Server, name string, last uint64, forge func(uint64, *nats.Msg)) {
	t.Helper()
	js := jetStream(t, ns)
	src, err := js.Stream(t.Context(), streamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(t.Context(), name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: []string{name + ".events"}}); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= last; seq++ {
		raw, err := src.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(name + ".events")
		m.Data = raw.Data
		for _, h := range []string{natspub.HeaderSeq, natspub.HeaderHash, natspub.HeaderPrev, natspub.HeaderTime, natspub.HeaderType} {
			m.Header.Set(h, raw.Header.Get(h))
		}
		forge(seq, m)
		if ack, err := js.PublishMsg(t.Context(), m); err != nil || ack.Sequence != seq {
			t.Fatalf("copy event %d: %v %v", seq, ack, err)
		}
	}
}

// A forged event in the stream's history — its content changed, with its
// hash header left as it was or made to match — is never delivered: the
// client resuming across it is closed (1011) without any event of the
// span it is in, the chain failure is counted, and /api/events refuses
// it; a resume after it, and the live stream, are served.
func TestForgedHistoryNotDelivered(t *testing.T) {
	// Event 5 is in the first chunk, read once the edge has learnt the
	// marks above it; event 20 is in a span read to learn them.
	for _, forged := range []uint64{5, 20} {
		for _, rehash := range []bool{false, true} {
			name := "content changed"
			if rehash {
				name = "content and hash changed"
			}
			t.Run(strconv.FormatUint(forged, 10)+"/"+name, func(t *testing.T) { testForgedHistory(t, forged, rehash) })
		}
	}
}

func testForgedHistory(t *testing.T, forged uint64, rehash bool) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 30)
	s.p.Close()
	head := s.head()
	copyStream(t, ns, "FORGED", head, func(seq uint64, m *nats.Msg) {
		if seq == forged {
			forge(t, seq, m, rehash)
		}
	})
	e, url := openTuned(t, ns, edge.Config{Stream: "FORGED", MaxLag: -1, RingEvents: 20, Backfill: -1}, nil)
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil && e.Stats().Delivered == head })

	c := dialRaw(t, url+"?since=0")
	seqs, code := c.closed(t)
	if code != 1011 || len(seqs) != 0 {
		t.Fatalf("resume across a forged event: events %v, close %d; want none and 1011", seqs, code)
	}
	if got := e.Stats().ChainFailures; got != 1 {
		t.Errorf("%d chain failures counted, want 1", got)
	}
	// The hub writes history in batches: the history itself must not
	// hand out an event of a chunk that does not check.
	var handed []uint64
	err := edge.Replay(e, 1, head+1, func(ev arena.Event) error {
		handed = append(handed, ev.Seq)
		return nil
	})
	if !errors.Is(err, edge.ErrChain) || len(handed) != 0 {
		t.Fatalf("Replay across a forged event: %v, handed out %v; want ErrChain and nothing", err, handed)
	}
	if _, err := e.Events(0, 10); !errors.Is(err, edge.ErrChain) {
		t.Errorf("Events across a forged event: %v, want ErrChain", err)
	}
	if err := e.Ready(); err != nil {
		t.Errorf("Ready: %v (the live stream is sound)", err)
	}
	after := (forged/testMarkEvery + 1) * testMarkEvery
	dialRaw(t, url+"?since="+strconv.FormatUint(after, 10)).follow(t, after+1, head)
}

// A stream rewritten under the edge, after it learnt its marks, with the
// last event of a chunk changed along with its hash (so that it links to
// the one before and hashes to its header): only the mark the edge learnt
// tells, and nothing of the chunk is handed out.
func TestRewrittenHistoryNotDelivered(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 30)
	s.p.Close()
	head := s.head()
	copyStream(t, ns, "COPY", head, func(uint64, *nats.Msg) {})
	e, _ := openTuned(t, ns, edge.Config{Stream: "COPY", MaxLag: -1, RingEvents: 20, Backfill: -1}, nil)
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil && e.Stats().Delivered == head })
	replay := func() ([]uint64, error) {
		var handed []uint64
		err := edge.Replay(e, 1, head+1, func(ev arena.Event) error {
			handed = append(handed, ev.Seq)
			return nil
		})
		return handed, err
	}
	if handed, err := replay(); err != nil || len(handed) != int(head) {
		t.Fatalf("Replay of the sound stream: %d events, %v", len(handed), err)
	}

	copyStream(t, ns, "COPY", head, func(seq uint64, m *nats.Msg) {
		if seq == testMarkEvery {
			forge(t, seq, m, true)
		}
	})
	handed, err := replay()
	if !errors.Is(err, edge.ErrChain) || len(handed) != 0 {
		t.Fatalf("Replay of the rewritten stream: %v, handed out %v; want ErrChain and nothing", err, handed)
	}
}

// forge changes event seq's content in m, and with rehash its hash
// header to match it.
func forge(t *testing.T, seq uint64, m *nats.Msg, rehash bool) {
	var ev map[string]any
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	ev["forged"] = true
	m.Data, _ = json.Marshal(ev)
	if rehash {
		nanos, _ := strconv.ParseInt(m.Header.Get(natspub.HeaderTime), 10, 64)
		var prev [32]byte
		hex.Decode(prev[:], []byte(m.Header.Get(natspub.HeaderPrev)))
		sum := eventlog.Hash(seq, time.Unix(0, nanos), m.Header.Get(natspub.HeaderType), prev, m.Data)
		m.Header.Set(natspub.HeaderHash, hex.EncodeToString(sum[:]))
	}
}

// A history read of the stream that is slow holds up no one: while one is
// stuck, the edge goes on delivering, a new client gets the live events,
// and a resume from the ring is served; then the stuck one gets its events.
func TestSlowStreamReadBlocksNoOne(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 20)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	hook := func(ctx context.Context) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e, url := openTuned(t, ns, edge.Config{MaxLag: -1, RingEvents: 50, Backfill: -1}, hook)
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil && e.Stats().Delivered == s.head() })
	start := s.head()

	stuck := dialRaw(t, url+"?since=0")
	<-entered
	live := dialRaw(t, url)
	s.run(t, 10)
	waitFor(t, "edge delivering", func() bool { return e.Stats().Delivered == s.head() })
	liveFrom, got := live.events(t, s.head())
	for seq := max(liveFrom, start) + 1; seq <= s.head(); seq++ {
		if got[seq] == nil {
			t.Fatalf("the live client missed event %d while a history read was stuck", seq)
		}
	}
	dialRaw(t, url+"?since="+strconv.FormatUint(s.head()-10, 10)).follow(t, s.head()-9, s.head())

	close(release)
	stuck.follow(t, 1, s.head())
}

// A history read of the stream past Config.HistoryTimeout fails: the
// client is closed (1011) and no chain failure is counted.
func TestStreamReadTimeout(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 10)
	hook := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	e, url := openTuned(t, ns, edge.Config{MaxLag: -1, Backfill: -1, HistoryTimeout: 50 * time.Millisecond}, hook)
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil })
	seqs, code := dialRaw(t, url+"?since=0").closed(t)
	if code != 1011 || len(seqs) != 0 {
		t.Fatalf("a history read past its timeout: events %v, close %d; want none and 1011", seqs, code)
	}
	if _, err := e.Events(0, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Events past the timeout: %v", err)
	}
	if got := e.Stats().ChainFailures; got != 0 {
		t.Errorf("%d chain failures counted for a timeout", got)
	}
}
