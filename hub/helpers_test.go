package hub

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// wsClient is a real WebSocket client for tests.
type wsClient struct {
	conn   *gws.Conn
	msgs   chan []byte
	closed chan struct{} // closed when the connection ends, after err is set
	err    error
	once   sync.Once
	hold   atomic.Pointer[chan struct{}] // while set, OnMessage waits on it
	pings  chan struct{}                 // one per ping frame received
}

// gate makes the client stop reading until g is closed.
func (c *wsClient) gate(g chan struct{}) { c.hold.Store(&g) }

type clientHandler struct{ c *wsClient }

func (h clientHandler) OnOpen(*gws.Conn) {}
func (h clientHandler) OnClose(_ *gws.Conn, err error) {
	h.c.once.Do(func() { h.c.err = err; close(h.c.closed) })
}
func (h clientHandler) OnPing(c *gws.Conn, p []byte) {
	c.WritePong(p)
	select {
	case h.c.pings <- struct{}{}:
	default:
	}
}
func (h clientHandler) OnPong(*gws.Conn, []byte) {}
func (h clientHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	if g := h.c.hold.Load(); g != nil {
		<-*g
	}
	b := append([]byte(nil), m.Bytes()...)
	m.Close()
	h.c.msgs <- b
}

// dial connects to the hub at srv with the query q and headers.
func dial(t testing.TB, srv *httptest.Server, q string, hdr http.Header) (*wsClient, *http.Response, error) {
	return dialAs(t, srv, q, hdr, func(h clientHandler) gws.Event { return h })
}

// dialAs is dial with the client's event handler made by as from the
// usual one, for clients that misbehave.
func dialAs(t testing.TB, srv *httptest.Server, q string, hdr http.Header, as func(clientHandler) gws.Event) (*wsClient, *http.Response, error) {
	t.Helper()
	c := &wsClient{msgs: make(chan []byte, 100_000), closed: make(chan struct{}), pings: make(chan struct{}, 100)}
	conn, resp, err := gws.NewClient(as(clientHandler{c}), &gws.ClientOption{
		Addr: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws" + q, RequestHeader: hdr,
		ReadMaxPayloadSize: 1 << 20,
	})
	if err != nil {
		return nil, resp, err
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { conn.NetConn().Close() })
	return c, resp, nil
}

func mustDial(t testing.TB, srv *httptest.Server, q string) *wsClient {
	t.Helper()
	c, _, err := dial(t, srv, q, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", q, err)
	}
	return c
}

// wait bounds how long a test waits for something that should happen at
// once; it is a failure deadline, not a synchronisation.
const wait = 10 * time.Second

// next returns the next message as a map.
func (c *wsClient) next(t testing.TB) map[string]any {
	t.Helper()
	var b []byte
	select {
	case b = <-c.msgs:
	case <-c.closed:
		// Every message came before the close: take those left first.
		select {
		case b = <-c.msgs:
		default:
			t.Fatalf("closed while waiting for a message: %v", c.err)
		}
	case <-time.After(wait):
		t.Fatal("no message")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return m
}

// closeCode waits for the connection to close and returns the close code
// and reason the server sent.
func (c *wsClient) closeCode(t testing.TB) (uint16, string) {
	t.Helper()
	for {
		select {
		case <-c.msgs:
		case <-c.closed:
			var ce *gws.CloseError
			if errors.As(c.err, &ce) {
				return ce.Code, string(ce.Reason)
			}
			t.Fatalf("closed without a close frame: %v", c.err)
		case <-time.After(wait):
			t.Fatal("not closed")
		}
	}
}

func (c *wsClient) sendText(t testing.TB, s string) {
	t.Helper()
	if err := c.conn.WriteString(s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func newTestHub(t testing.TB, cfg Config) (*Hub, *httptest.Server) {
	t.Helper()
	h := New(cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close(5 * time.Second)
		srv.Close()
	})
	return h, srv
}

var t0 = time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC)

// events makes n events from seq first on: market ticks, with an agent
// state and a trade among them.
func events(first uint64, n int) []arena.Event {
	out := make([]arena.Event, n)
	for i := range out {
		seq := first + uint64(i)
		e := arena.Event{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second)}
		switch seq % 5 {
		case 3:
			e.Type, e.Agent = arena.EventAgent, &arena.AgentState{ID: "Balanced", Capital: market.MoneyFromFloat(115000.5), Trades: 28, WinRate: 0.62, Status: arena.StatusActive}
		case 4:
			e.Type, e.Trade = arena.EventTrade, &arena.TradeEvent{Agent: "Momentum", Symbol: "ETH-USD", Action: "open", Side: arena.Long, Qty: 1, Price: market.PriceFromFloat(2500)}
		default:
			sym := market.Symbol("BTC-USD")
			if seq%2 == 0 {
				sym = "SOL-USD"
			}
			e.Type, e.Market = arena.EventMarket, &arena.MarketEvent{Symbol: sym, Price: market.PriceFromFloat(45150.32 + float64(seq)), ChangePercent: 0.45, Source: "sim"}
		}
		out[i] = e
	}
	return out
}

// history is an in-memory History over a fixed list of events.
type history struct {
	events []arena.Event
	oldest uint64
}

func (h *history) Oldest() uint64 { return h.oldest }

func (h *history) Replay(from, until uint64, fn func(arena.Event) error) error {
	for _, e := range h.events {
		if e.Seq >= from && e.Seq < until && e.Seq >= h.oldest {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func seqOf(t testing.TB, m map[string]any) uint64 {
	t.Helper()
	v, ok := m["sequence"].(float64)
	if !ok {
		t.Fatalf("no sequence in %v", m)
	}
	return uint64(v)
}

// notifyBuffer collects log output and lets a test wait for a line.
type notifyBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func newNotifyBuffer() *notifyBuffer { return &notifyBuffer{changed: make(chan struct{}, 1)} }

func (n *notifyBuffer) Write(p []byte) (int, error) {
	n.mu.Lock()
	n.b.Write(p)
	n.mu.Unlock()
	select {
	case n.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (n *notifyBuffer) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

func (n *notifyBuffer) waitFor(t testing.TB, want string) {
	t.Helper()
	for !strings.Contains(n.String(), want) {
		select {
		case <-n.changed:
		case <-time.After(wait):
			t.Fatalf("never logged %q:\n%s", want, n)
		}
	}
}
