package client_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/market"
)

// wait bounds how long a test waits for something that should happen at
// once; it is a failure deadline, not a synchronisation.
const wait = 10 * time.Second

var t0 = time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC)

var symbols = []string{"BTC-USD", "ETH-USD"}
var agents = []string{"Balanced", "Momentum"}

// events are n events from first: market ticks and agent states in turn,
// over two symbols and two agents.
func events(first uint64, n int) []arena.Event {
	out := make([]arena.Event, n)
	for i := range out {
		seq := first + uint64(i)
		e := arena.Event{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second)}
		if seq%2 == 1 {
			e.Type, e.Market = arena.EventMarket, &arena.MarketEvent{Symbol: market.Symbol(symbols[seq/2%2]), Price: market.PriceFromFloat(45000 + float64(seq)), ChangePercent: 0.5}
		} else {
			e.Type, e.Agent = arena.EventAgent, &arena.AgentState{ID: agents[seq/2%2], Capital: market.MoneyFromFloat(100000 + float64(seq)), WinRate: 0.5, Status: arena.StatusActive}
		}
		out[i] = e
	}
	return out
}

// snapshot is a state of two prices and two agents.
func snapshot() *arena.Snapshot {
	return &arena.Snapshot{Time: t0, Marks: []arena.MarketEvent{
		{Symbol: "BTC-USD", Price: market.PriceFromFloat(45150.32), ChangePercent: 0.45},
		{Symbol: "ETH-USD", Price: market.PriceFromFloat(2499.5), ChangePercent: -0.12},
	}, Agents: []arena.AgentState{
		{ID: "Balanced", Capital: market.MoneyFromFloat(115000.5), WinRate: 0.62, Status: arena.StatusActive},
		{ID: "Momentum", Capital: market.MoneyFromFloat(45000), WinRate: 0.3, Status: arena.StatusDeceased},
	}}
}

// memLog is an event log in memory, shared by the hubs of a test's
// server restarts: hub.History over what was appended.
type memLog struct {
	mu     sync.Mutex
	events []arena.Event
	oldest uint64
}

func (l *memLog) append(evs []arena.Event) {
	l.mu.Lock()
	l.events = append(l.events, evs...)
	l.mu.Unlock()
}

func (l *memLog) Oldest() uint64 { return max(l.oldest, 1) }

func (l *memLog) Replay(from, until uint64, fn func(arena.Event) error) error {
	l.mu.Lock()
	evs := l.events
	l.mu.Unlock()
	for _, e := range evs {
		if e.Seq >= from && e.Seq < until && e.Seq >= l.Oldest() {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// server is a hub served over HTTP, on addr when it is set (a restart),
// with the query of every upgrade request in queries.
type server struct {
	hub     *hub.Hub
	srv     *httptest.Server
	url     string
	queries chan string
}

func startServer(t *testing.T, cfg hub.Config, addr string) *server {
	t.Helper()
	h := hub.New(cfg)
	s := &server{hub: h, queries: make(chan string, 100)}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.queries <- r.URL.RawQuery:
		default:
		}
		h.ServeHTTP(w, r)
	}))
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen again on %s: %v", addr, err)
		}
		s.srv.Listener.Close()
		s.srv.Listener = l
	}
	s.srv.Start()
	s.url = "ws://" + s.srv.Listener.Addr().String() + "/ws"
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down as lineage serve does: close frames (1001)
// to every client, then the listener.
func (s *server) stop() {
	s.hub.Close(5 * time.Second)
	s.srv.Close()
}

// publish publishes evs (and snap) and waits until they are queued to
// every client.
func (s *server) publish(evs []arena.Event, snap *arena.Snapshot) {
	s.hub.Publish(evs, snap)
	s.hub.Flush()
}

// fast are Options for tests: short backoff, a fixed seed.
func fast(o client.Options) client.Options {
	o.BackoffMin, o.BackoffMax = 5*time.Millisecond, 50*time.Millisecond
	o.Rand = rand.NewPCG(1, 2)
	return o
}

func mustDial(t *testing.T, url string, o client.Options) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c, err := client.Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next is the next message, within the test's deadline.
func next(t *testing.T, c *client.Conn) client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	m, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return m
}

// nextEvent skips control messages.
func nextEvent(t *testing.T, c *client.Conn) client.Message {
	t.Helper()
	for {
		if m := next(t, c); m.Event {
			return m
		}
	}
}

// nextErr is the error that ends the stream.
func nextErr(t *testing.T, c *client.Conn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	for {
		_, err := c.Next(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("the stream did not end")
		}
		if err != nil {
			return err
		}
	}
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }
