package hub

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// stuckClient upgrades a raw TCP connection and then never reads: the
// kernel buffers fill, the server's writes stall, and its queue grows.
func stuckClient(t *testing.T, addr string) net.Conn { return stuckClientBuf(t, addr, 0) }

// stuckClientBuf is stuckClient with a receive buffer of rcvbuf bytes (0:
// the kernel's default), set before the connection so its window is small.
func stuckClientBuf(t *testing.T, addr string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		if rcvbuf > 0 {
			c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
		}
		return nil
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return conn
}

// A client that stops reading is cut with a close reason saying it was too
// slow, and a healthy client receives every message meanwhile, in order.
func TestSlowClientIsCutAndNobodyWaits(t *testing.T) {
	logs := newNotifyBuffer()
	h, srv := newTestHub(t, Config{WriteTimeout: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	healthy := mustDial(t, srv, "")
	healthy.next(t)
	stuck := stuckClient(t, strings.TrimPrefix(srv.URL, "http://"))

	// Publish in bursts the healthy client keeps up with; the stuck one
	// falls further behind with every burst.
	// 40 MB in all: more than loopback's socket buffers (up to 4 MB sent
	// plus 6 MB received here) hold, so a write to the stuck client waits
	// and its timeout (500 ms here) cuts it.
	pad := strings.Repeat("x", 8000)
	const bursts, per = 40, 128
	seq := uint64(0)
	for range bursts {
		batch := make([]arena.Event, per)
		for i := range batch {
			seq++
			batch[i] = arena.Event{Seq: seq, Time: t0, Type: arena.EventMarket,
				Market: &arena.MarketEvent{Symbol: "BTC-USD", Price: market.PriceFromFloat(1), Source: pad}}
		}
		start := time.Now()
		h.Publish(batch, nil)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publishing %d events took %s: the hub waited on someone", per, d)
		}
		for want := seq - per + 1; want <= seq; want++ {
			if got := seqOf(t, healthy.next(t)); got != want {
				t.Fatalf("healthy client got %d, want %d", got, want)
			}
		}
	}
	logs.waitFor(t, "slow client cut")
	if st := h.Stats(); st.SlowDisconnects != 1 {
		t.Errorf("slow disconnects %d, want 1", st.SlowDisconnects)
	}
	// The stuck client's connection is closed: reading it to the end
	// finishes.
	stuck.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, stuck); err != nil {
		t.Fatalf("the stuck client's connection was not closed: %v", err)
	}
}

// A client that falls behind but still reads hears why it was cut: close
// code 1008, "too slow". (A small backlog bound keeps the test short.)
func TestSlowClientHearsWhy(t *testing.T) {
	logs := newNotifyBuffer()
	h, srv := newTestHub(t, Config{MaxBacklogBytes: 4 << 20, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c := mustDial(t, srv, "")
	c.next(t)
	gate := make(chan struct{})
	c.gate(gate) // the client stops taking messages until the gate opens
	pad := strings.Repeat("y", 4000)
	seq := uint64(0)
	for !strings.Contains(logs.String(), "slow client cut") {
		batch := make([]arena.Event, 256)
		for i := range batch {
			seq++
			batch[i] = arena.Event{Seq: seq, Time: t0, Type: arena.EventMarket,
				Market: &arena.MarketEvent{Symbol: "BTC-USD", Price: market.PriceFromFloat(1), Source: pad}}
		}
		h.Publish(batch, nil)
		if seq > 1_000_000 {
			t.Fatal("never cut")
		}
	}
	close(gate)
	code, reason := c.closeCode(t)
	if code != 1008 || !strings.Contains(reason, "too slow") {
		t.Errorf("closed with %d %q, want 1008 saying too slow", code, reason)
	}
}

// A client that stops reading is cut within the stall bound of the data
// it leaves unread (ackMax + SlowTimeout + 2*checkEvery; StallTimeout with
// the defaults, which liveness_test.go checks on the bubble's clock),
// however little that is: a few kilobytes sit in its socket buffers, far
// from filling its backlog or blocking a write, and the ping after them
// goes unanswered. Here over real sockets, with SlowTimeout 1 s.
func TestStoppedClientIsCut(t *testing.T) {
	logs := newNotifyBuffer()
	cfg := Config{SlowTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	bound := ackMax + cfg.SlowTimeout + 2*checkEvery
	h, srv := newTestHub(t, cfg)
	healthy := mustDial(t, srv, "")
	healthy.next(t)
	start := time.Now()
	stuck := stuckClient(t, strings.TrimPrefix(srv.URL, "http://")) // its welcome is already unread
	h.Publish(events(1, 5), nil)
	logs.waitFor(t, "slow client cut")
	if d := time.Since(start); d > bound+time.Second {
		t.Errorf("cut %s after it connected, want within %s", d, bound)
	}
	if !strings.Contains(logs.String(), "unread for 1s") {
		t.Errorf("cut for another reason:\n%s", logs)
	}
	if st := h.Stats(); st.SlowDisconnects != 1 {
		t.Errorf("slow disconnects %d, want 1", st.SlowDisconnects)
	}
	// The stuck client's connection ends; the healthy one, which read its
	// data and answered its pings meanwhile, stays.
	stuck.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, stuck); err != nil {
		t.Fatalf("the stuck client's connection was not closed: %v", err)
	}
	for want := uint64(1); want <= 5; want++ {
		if got := seqOf(t, healthy.next(t)); got != want {
			t.Fatalf("healthy client got %d, want %d", got, want)
		}
	}
	h.Publish(events(6, 1), nil)
	if got := seqOf(t, healthy.next(t)); got != 6 {
		t.Fatalf("healthy client got %d after the cut, want 6", got)
	}
}

// A client that reads steadily is pinged while data flows and stays, far
// past SlowTimeout.
func TestReadingClientStays(t *testing.T) {
	h, srv := newTestHub(t, Config{SlowTimeout: time.Second})
	c := mustDial(t, srv, "")
	c.next(t)
	pings := 0
	span := 2*ackMax + time.Second
	deadline := time.Now().Add(span)
	for seq := uint64(1); time.Now().Before(deadline); seq++ {
		h.Publish(events(seq, 1), nil)
		if got := seqOf(t, c.next(t)); got != seq {
			t.Fatalf("got %d, want %d", got, seq)
		}
		select {
		case <-c.pings:
			pings++
		case <-time.After(50 * time.Millisecond):
		}
	}
	if pings < 2 {
		t.Errorf("%d pings while data flowed for %s, want at least 2", pings, span)
	}
	if st := h.Stats(); st.SlowDisconnects != 0 || st.Connections != 1 {
		t.Errorf("stats %+v: the reading client was cut", st)
	}
}

// wrongPong answers pings with a payload of its own.
type wrongPong struct{ clientHandler }

func (w wrongPong) OnPing(c *gws.Conn, _ []byte) { c.WritePong([]byte("nope")) }

// Only the pong that echoes the ping counts: a client answering with
// anything else is cut even though it reads.
func TestPongMustEchoPing(t *testing.T) {
	logs := newNotifyBuffer()
	h, srv := newTestHub(t, Config{SlowTimeout: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c, _, err := dialAs(t, srv, "", nil, func(h clientHandler) gws.Event { return wrongPong{h} })
	if err != nil {
		t.Fatal(err)
	}
	c.next(t)
	h.Publish(events(1, 1), nil)
	logs.waitFor(t, "unread for 500ms")
	if st := h.Stats(); st.SlowDisconnects != 1 {
		t.Errorf("slow disconnects %d, want 1", st.SlowDisconnects)
	}
}

// silent reads everything and answers only its first ping: a peer that
// went away once it had taken its data.
type silent struct {
	clientHandler
	answered *atomic.Bool
}

func (s silent) OnPing(c *gws.Conn, p []byte) {
	if !s.answered.Swap(true) {
		c.WritePong(p)
	}
}

// An idle client that stops answering pings is closed as gone (1001), not
// counted as slow.
func TestIdleClientWithoutPongsIsClosed(t *testing.T) {
	logs := newNotifyBuffer()
	h, srv := newTestHub(t, Config{PingInterval: 100 * time.Millisecond, SlowTimeout: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c, _, err := dialAs(t, srv, "", nil, func(h clientHandler) gws.Event { return silent{h, new(atomic.Bool)} })
	if err != nil {
		t.Fatal(err)
	}
	c.next(t)
	code, reason := c.closeCode(t)
	if code != 1001 || !strings.Contains(reason, "no answer to a ping") {
		t.Errorf("closed with %d %q, want 1001 saying no answer to a ping", code, reason)
	}
	if st := h.Stats(); st.SlowDisconnects != 0 {
		t.Errorf("slow disconnects %d, want 0: an idle client is not slow", st.SlowDisconnects)
	}
}

// The welcome carries the first ping; a burst is not pinged in its own
// write but after it, so the pongs stay out of the next burst's way: a
// client on loopback has acknowledged the burst at the TCP level by
// ackDelay, so its ping waits for ackMax.
func TestBurstIsPingedAfter(t *testing.T) {
	h, srv := newTestHub(t, Config{})
	c := mustDial(t, srv, "")
	c.next(t) // welcome
	// Written with the welcome, the ping is out before tick could have
	// asked for one (ackDelay after the welcome).
	h.mu.RLock()
	for sc := range h.clients {
		sc.mu.Lock()
		if sc.pingN == 0 && time.Since(sc.unackedAt) < ackDelay {
			t.Error("the welcome carried no ping")
		}
		sc.mu.Unlock()
	}
	h.mu.RUnlock()
	select {
	case <-c.pings:
	case <-time.After(wait):
		t.Fatal("no first ping")
	}
	sent := time.Now()
	h.Publish(events(1, 5), nil)
	for want := uint64(1); want <= 5; want++ {
		if got := seqOf(t, c.next(t)); got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
	select {
	case <-c.pings:
		if d := time.Since(sent); d < ackMax {
			t.Errorf("the burst was pinged after %s, want at least %s", d, ackMax)
		}
	case <-time.After(wait):
		t.Fatal("the burst was never pinged")
	}
}
