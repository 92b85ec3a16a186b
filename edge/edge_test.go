package edge_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/natspub"
)

// The edge's header names are natspub's.
func TestHeadersAreThePublishers(t *testing.T) {
	if edge.HeaderSeq != natspub.HeaderSeq || edge.HeaderHash != natspub.HeaderHash || edge.HeaderPrev != natspub.HeaderPrev || edge.HeaderTime != natspub.HeaderTime || edge.HeaderType != natspub.HeaderType ||
		edge.SnapshotObject != natspub.SnapshotObject {
		t.Fatal("edge and natspub disagree on the headers or the snapshot's name")
	}
}

// A client on the edge gets the welcome, a snapshot at the welcome's
// sequence and then every event, none missing, none twice; the event
// frames are byte for byte those of a hub fed by the engine directly.
func TestEdgeServesWhatServeServes(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 10)
	e, url := openEdge(t, ns, edge.Config{MaxLag: -1})
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil })
	if st := e.Stats(); !st.HasSnapshot || st.SnapshotSeq == 0 || st.Delivered != s.head() {
		t.Fatalf("edge stats %+v: want a snapshot and caught up at %d", st, s.head())
	}
	if snap := e.Snapshot(); snap == nil || snap.NextSeq != s.head()+1 {
		t.Fatalf("edge Snapshot does not stand at the delivered event %d: %v", s.head(), snap)
	}

	c, err := client.Dial(t.Context(), url, client.Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	viaEdge := dialRaw(t, url)
	direct := dialRaw(t, "ws"+httptestURL(t, s)[4:])
	start := c.Welcome().Sequence
	if start != s.head() {
		t.Errorf("welcome at %d, the edge had delivered %d", start, s.head())
	}
	s.run(t, 20)
	last := s.head()

	next, snapshot := start+1, 0
	for next <= last {
		m, err := c.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m.Snapshot:
			if m.Sequence != start {
				t.Fatalf("snapshot event at %d, the welcome said %d", m.Sequence, start)
			}
			snapshot++
		case m.Event:
			if m.Sequence != next {
				t.Fatalf("event %d where %d was next", m.Sequence, next)
			}
			next++
		}
	}
	if snapshot == 0 {
		t.Error("no snapshot after the welcome")
	}

	we, fe := viaEdge.events(t, last)
	wd, fd := direct.events(t, last)
	compared := 0
	for seq := max(we, wd) + 1; seq <= last; seq++ {
		if !bytes.Equal(fe[seq], fd[seq]) {
			t.Fatalf("event %d: edge sent %s, serve's hub %s", seq, fe[seq], fd[seq])
		}
		compared++
	}
	if compared < 20 {
		t.Errorf("only %d events compared", compared)
	}
}

// A client resumes on the edge with ?since=, and on a new edge after the
// first one closed: the events after its sequence, in order, none
// missing; past the ring, the hub's "truncated".
func TestResumeAndRestart(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 20)
	e1, url1 := openEdge(t, ns, edge.Config{MaxLag: -1})
	waitFor(t, "edge ready", func() bool { return e1.Ready() == nil })
	since := e1.Stats().Delivered
	s.run(t, 10)
	waitFor(t, "edge caught up", func() bool { return e1.Stats().Delivered == s.head() })
	resume(t, url1, since, s.head())
	e1.Close(0)

	s.run(t, 10)
	e2, url2 := openEdge(t, ns, edge.Config{MaxLag: -1})
	waitFor(t, "second edge ready", func() bool { return e2.Ready() == nil })
	if e2.Stats().SnapshotSeq <= since {
		t.Fatalf("second edge started from snapshot %d, not past the resume point %d", e2.Stats().SnapshotSeq, since)
	}
	resume(t, url2, since, s.head()) // before its snapshot: from the backfilled ring

	// An edge without a backfill serves the events before its snapshot
	// from the stream.
	e3, url3 := openEdge(t, ns, edge.Config{MaxLag: -1, Backfill: -1})
	waitFor(t, "third edge ready", func() bool { return e3.Ready() == nil })
	if e3.Stats().SnapshotSeq <= since {
		t.Fatalf("third edge started from snapshot %d, not past the resume point %d", e3.Stats().SnapshotSeq, since)
	}
	resume(t, url3, since, s.head())
}

// resume connects with ?since= and checks it gets since+1..last in order.
func resume(t *testing.T, url string, since, last uint64) {
	t.Helper()
	c, err := client.Dial(t.Context(), url, client.Options{Resume: true, Since: since, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for next := since + 1; next <= last; {
		m, err := c.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == client.TypeResume {
			t.Fatalf("resume after %d: %s %s", since, m.Code, m.Text)
		}
		if !m.Event {
			continue
		}
		if m.Snapshot || m.Sequence != next {
			t.Fatalf("resume after %d: event %d (snapshot %v) where %d was next", since, m.Sequence, m.Snapshot, next)
		}
		next++
	}
}

// A message whose Lineage-Prev is not the previous message's hash is
// never delivered: it is counted, the edge stops before it and is not
// ready.
func TestChainBreakNotDelivered(t *testing.T) {
	// A wrong link, and a right link on content that is not the logged
	// record's (its hash header does not match it): neither is delivered.
	for _, forged := range []bool{false, true} {
		name := "wrong link"
		if forged {
			name = "forged content"
		}
		t.Run(name, func(t *testing.T) { testChainBreak(t, forged) })
	}
}

func testChainBreak(t *testing.T, forged bool) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 10)
	e, url := openEdge(t, ns, edge.Config{MaxLag: -1})
	waitFor(t, "edge ready", func() bool { return e.Ready() == nil })
	s.p.Close() // the stream is the test's now
	last := s.head()

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, _ := js.Stream(t.Context(), streamName)
	prev, err := st.GetMsg(t.Context(), last)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	json.Unmarshal(prev.Data, &ev)
	ev["sequence"] = last + 1
	data, _ := json.Marshal(ev)
	m := nats.NewMsg("run.events")
	m.Data = data
	m.Header.Set(natspub.HeaderSeq, strconv.FormatUint(last+1, 10))
	m.Header.Set(natspub.HeaderHash, prev.Header.Get(natspub.HeaderHash)) // any hash
	m.Header.Set(natspub.HeaderTime, prev.Header.Get(natspub.HeaderTime))
	m.Header.Set(natspub.HeaderType, prev.Header.Get(natspub.HeaderType))
	if forged {
		m.Header.Set(natspub.HeaderPrev, prev.Header.Get(natspub.HeaderHash)) // the right link
	} else {
		m.Header.Set(natspub.HeaderPrev, "00"+prev.Header.Get(natspub.HeaderHash)[2:])
	}
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "chain failure counted", func() bool { return e.Stats().ChainFailures >= 1 })
	if err := e.Ready(); !errors.Is(err, edge.ErrChain) {
		t.Errorf("Ready after a chain failure: %v, want ErrChain", err)
	}
	if st := e.Stats(); st.Delivered != last || st.ConsumerResets == 0 {
		t.Errorf("stats %+v: want delivered %d and a reset", st, last)
	}
	c, err := client.Dial(t.Context(), url, client.Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Welcome().Sequence; got != last {
		t.Fatalf("welcome at %d: the edge delivered the broken event %d", got, last+1)
	}
	waitFor(t, "chain failure counted again", func() bool { return e.Stats().ChainFailures >= 2 })
	if got := e.Stats().Delivered; got != last {
		t.Fatalf("delivered %d after re-reading, want %d", got, last)
	}
}

// An edge that has its snapshot but has not read the stream past it is
// not ready: it learns where the stream ends when it loads the snapshot,
// not only from the poller (held off here), so it never says it is caught
// up at the snapshot while the stream holds more.
func TestNotReadyAtTheSnapshotWhileTheStreamHoldsMore(t *testing.T) {
	ns := startNATS(t)
	s := newStack(t, ns)
	s.run(t, 10)
	for attempt := 1; ; attempt++ {
		s.run(t, 3) // the stream goes past the latest snapshot
		hold := make(chan struct{})
		e, err := edge.OpenHeld(t.Context(), edge.Config{URL: ns.ClientURL(), Stream: streamName, SnapshotBucket: bucketName, MaxLag: -1}, hold)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a snapshot", func() bool { return e.Stats().HasSnapshot })
		st := e.Stats()
		if st.SnapshotSeq == s.head() {
			close(hold)
			e.Close(time.Second)
			if attempt == 5 {
				t.Fatal("5 edges started from a snapshot at the stream's end")
			}
			continue
		}
		if err := e.Ready(); err == nil || st.StreamLast != s.head() {
			t.Errorf("at snapshot %d with the stream at %d: Ready %v, StreamLast %d; want not ready, the stream's end known",
				st.SnapshotSeq, s.head(), err, st.StreamLast)
		}
		close(hold)
		waitFor(t, "edge ready", func() bool { return e.Ready() == nil })
		if got := e.Stats().Delivered; got != s.head() {
			t.Errorf("ready at %d, the stream at %d", got, s.head())
		}
		e.Close(time.Second)
		return
	}
}
