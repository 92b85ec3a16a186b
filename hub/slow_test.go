package hub

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

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
	// plus 6 MB received here) and the queue bound together can hold.
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
// code 1008, "too slow".
func TestSlowClientHearsWhy(t *testing.T) {
	logs := newNotifyBuffer()
	h, srv := newTestHub(t, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
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

// A client that stops reading is cut by the stall check, long before its
// queue or the server's socket buffer would fill: here a megabyte waits
// for it, a quarter of its queue and of loopback's send buffer. Its own
// receive buffer is small, as the check only sees data its kernel has not
// taken.
func TestStalledClientIsCut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the stall check reads the socket's send queue, which only Linux offers here")
	}
	logs := newNotifyBuffer()
	h, srv := newTestHub(t, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	stuckClientBuf(t, strings.TrimPrefix(srv.URL, "http://"), 16<<10)
	pad := strings.Repeat("z", 4000)
	batch := make([]arena.Event, 256)
	for i := range batch {
		batch[i] = arena.Event{Seq: uint64(i + 1), Time: t0, Type: arena.EventMarket,
			Market: &arena.MarketEvent{Symbol: "BTC-USD", Price: market.PriceFromFloat(1), Source: pad}}
	}
	h.Publish(batch, nil)
	start := time.Now()
	logs.waitFor(t, "slow client cut")
	if d := time.Since(start); d > StallTimeout+3*time.Second {
		t.Errorf("cut %s after the data stopped, want within %s", d, StallTimeout+3*time.Second)
	}
	if !strings.Contains(logs.String(), "nothing read for") {
		t.Errorf("cut for another reason:\n%s", logs)
	}
}
