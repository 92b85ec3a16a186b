package edge_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/internal/natstest"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/natspub"
)

// startNATS starts an embedded NATS server with JetStream (file storage)
// and stops it when the test ends.
func startNATS(t *testing.T) *server.Server { return natstest.Start(t, "", 0) }

// stack is an engine on the sim feed, its publisher, and a hub fed by the
// engine directly (as `serve` feeds it), to compare an edge with.
type stack struct {
	e      *engine.Engine
	p      *natspub.Publisher
	direct *hub.Hub
	runID  string

	mu    sync.Mutex
	steps int
	step  chan struct{}
}

const (
	streamName = "RUN"
	bucketName = "RUN_SNAP"
)

func newStack(t *testing.T, ns *server.Server) *stack {
	t.Helper()
	e, err := engine.Open(t.Context(), engine.Config{
		Dir: t.TempDir(),
		Found: func() (engine.Founding, error) {
			return engine.Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 7}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
		},
		TickInterval: time.Millisecond, AgentInterval: 3 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	s := &stack{e: e, step: make(chan struct{}, 1)}
	e.History().Records(0, 1, func(r eventlog.Record) error { s.runID = hex.EncodeToString(r.Hash[:8]); return nil })
	s.direct = hub.New(hub.Config{History: e.History()})
	t.Cleanup(func() { s.direct.Close(time.Second) })
	snap := e.Snapshot()
	s.direct.SetLastSeq(snap.NextSeq-1, snap)
	e.Subscribe(func(st engine.Step) {
		s.direct.Publish(st.Events, st.Snapshot)
		s.mu.Lock()
		s.steps++
		s.mu.Unlock()
		select {
		case s.step <- struct{}{}:
		default:
		}
	})
	s.p, err = natspub.Open(t.Context(), e, natspub.Config{URL: ns.ClientURL(), Stream: streamName, Subject: "run.events",
		SnapshotBucket: bucketName, SnapshotSteps: 7, SnapshotInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.p.Close() })
	return s
}

func (s *stack) stepCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.steps
}

// run steps the engine n more steps, and waits until they are in the
// stream.
func (s *stack) run(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- s.e.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Symbols: market.DefaultSymbols, Seed: 7})})
	}()
	want := s.stepCount() + n
	deadline := time.After(30 * time.Second)
	for s.stepCount() < want {
		select {
		case <-s.step:
		case <-deadline:
			t.Fatalf("engine committed %d steps in 30s, want %d", s.stepCount(), want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "publisher caught up", func() bool { st := s.p.Stats(); return st.Lag == 0 && st.Published == s.head() })
}

func (s *stack) head() uint64 { return s.e.LogStats().Durable - 1 }

// openEdge opens an edge on the stack's stream and serves its hub.
func openEdge(t *testing.T, ns *server.Server, cfg edge.Config) (*edge.Edge, string) {
	t.Helper()
	cfg.URL, cfg.Stream, cfg.SnapshotBucket = ns.ClientURL(), streamName, bucketName
	e, err := edge.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, serveEdge(t, e)
}

// serveEdge serves e's hub and returns its WebSocket URL; it closes e
// when the test ends.
func serveEdge(t *testing.T, e *edge.Edge) string {
	t.Helper()
	srv := httptest.NewServer(e.Hub())
	t.Cleanup(func() {
		e.Close(time.Second)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
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

// rawClient reads a WebSocket's text frames as they came, answering pings.
type rawClient struct {
	frames chan []byte
	err    error // why the connection ended: set before frames is closed
}

func dialRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	conn, br, _, err := ws.Dial(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{r, conn}
	c := &rawClient{frames: make(chan []byte, 1<<16)}
	go func() {
		defer close(c.frames)
		for {
			b, err := wsutil.ReadServerText(rw)
			if err != nil {
				c.err = err
				return
			}
			c.frames <- b
		}
	}()
	return c
}

// next returns c's next frame, failing the test when none comes in 30s
// or the connection ends.
func (c *rawClient) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b, ok := <-c.frames:
		if !ok {
			t.Fatalf("connection ended: %v", c.err)
		}
		return b
	case <-time.After(30 * time.Second):
		t.Fatal("no frame in 30s")
	}
	return nil
}

// frame is the envelope of a message, to sort frames.
type frame struct {
	Type     string `json:"type"`
	Event    string `json:"event_type"`
	Seq      uint64 `json:"sequence"`
	Snapshot bool   `json:"snapshot"`
}

// events reads c's frames until it has the events up to last; it returns
// the welcome's sequence and the live event frames by sequence.
func (c *rawClient) events(t *testing.T, last uint64) (uint64, map[uint64][]byte) {
	t.Helper()
	var welcome uint64
	out := map[uint64][]byte{}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case b, ok := <-c.frames:
			if !ok {
				t.Fatal("connection ended")
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("frame %s: %v", b, err)
			}
			switch {
			case f.Type == "welcome":
				welcome = f.Seq
			case f.Event != "" && !f.Snapshot:
				if _, dup := out[f.Seq]; dup {
					t.Fatalf("event %d twice", f.Seq)
				}
				out[f.Seq] = b
				if f.Seq >= last {
					return welcome, out
				}
			}
		case <-deadline:
			t.Fatalf("events up to %d not in 30s (have %d)", last, len(out))
		}
	}
}

// httptestURL serves the stack's direct hub and returns its URL.
func httptestURL(t *testing.T, s *stack) string {
	srv := httptest.NewServer(s.direct)
	t.Cleanup(srv.Close)
	return srv.URL
}
