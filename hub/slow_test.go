package hub

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// stuckClient upgrades a raw TCP connection and then never reads: the
// kernel buffers fill, the server's writes stall, and its queue grows.
func stuckClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
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
	h, srv := newTestHub(t, Config{WriteTimeout: 500 * time.Millisecond})
	healthy := mustDial(t, srv, "")
	healthy.next(t)
	stuck := stuckClient(t, strings.TrimPrefix(srv.URL, "http://"))

	// Publish in bursts the healthy client keeps up with; the stuck one
	// falls further behind with every burst.
	pad := strings.Repeat("x", 2000)
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
		h.Publish(batch)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publishing %d events took %s: the hub waited on someone", per, d)
		}
		for want := seq - per + 1; want <= seq; want++ {
			if got := seqOf(t, healthy.next(t)); got != want {
				t.Fatalf("healthy client got %d, want %d", got, want)
			}
		}
	}
	// Now read what the stuck client was sent, to the end: the server has
	// closed the connection, and its last frame says why.
	stuck.SetReadDeadline(time.Now().Add(wait))
	all, err := io.ReadAll(stuck)
	if err != nil {
		t.Fatalf("the stuck client's connection was not closed: %v (read %d bytes; %+v)", err, len(all), h.Stats())
	}
	if tail := string(all[max(0, len(all)-200):]); !strings.Contains(tail, "too slow") {
		t.Errorf("the last bytes sent to the stuck client do not say it was too slow: %q", tail)
	}
	if st := h.Stats(); st.SlowDisconnects != 1 {
		t.Errorf("slow disconnects %d, want 1", st.SlowDisconnects)
	}
	if st := h.Stats(); st.MessagesDropped == 0 {
		t.Errorf("a cut client's queued messages are not counted as dropped: %+v", st)
	}
}
