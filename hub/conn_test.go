package hub

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// bothReaders runs f against a hub whose connections the poller reads and
// against one that reads each on a goroutine (TLS, systems without epoll).
func bothReaders(t *testing.T, f func(t *testing.T, newHub func(Config) (*Hub, *httptest.Server))) {
	t.Run("poller", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("the poller is Linux's (epoll)")
		}
		f(t, func(cfg Config) (*Hub, *httptest.Server) {
			h, srv := newTestHub(t, cfg)
			if h.poller == nil {
				t.Fatal("no poller on Linux")
			}
			return h, srv
		})
	})
	t.Run("read loop", func(t *testing.T) {
		f(t, func(cfg Config) (*Hub, *httptest.Server) {
			h := newHub(cfg, false)
			srv := httptest.NewServer(h)
			t.Cleanup(func() {
				h.Close(5 * time.Second)
				srv.Close()
			})
			return h, srv
		})
	})
}

// rawDial opens a WebSocket to srv by hand, sending extra right behind
// the request, and returns the connection and a reader past the
// handshake's answer.
func rawDial(t *testing.T, srv *httptest.Server, extra []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(wait)) // a failure bound
	req := "GET /ws HTTP/1.1\r\nHost: lineage\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return conn, br
}

// readServerFrame reads one frame the server sent.
func readServerFrame(t *testing.T, br *bufio.Reader) (ws.OpCode, []byte) {
	t.Helper()
	h, err := ws.ReadHeader(br)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if h.Masked {
		t.Fatal("the server masked a frame")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("read: %v", err)
	}
	return h.OpCode, p
}

// serverClose reads frames up to the server's close frame and returns its
// code and reason; after it, the server ends the connection.
func serverClose(t *testing.T, br *bufio.Reader) (ws.StatusCode, string) {
	t.Helper()
	for {
		op, p := readServerFrame(t, br)
		if op == ws.OpClose {
			code, reason := ws.ParseCloseFrameData(p)
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the close frame: %v, want the end of the stream", err)
			}
			return code, reason
		}
	}
}

func TestReadersSpeakTheProtocol(t *testing.T) {
	bothReaders(t, func(t *testing.T, newHub func(Config) (*Hub, *httptest.Server)) {
		h, srv := newHub(Config{})
		c := mustDial(t, srv, "")
		c.next(t) // welcome
		h.Publish(events(1, 3), nil)
		for want := uint64(1); want <= 3; want++ {
			if got := seqOf(t, c.next(t)); got != want {
				t.Fatalf("sequence %d, want %d", got, want)
			}
		}
		c.sendText(t, `{"type":"ping"}`)
		if m := c.next(t); m["type"] != "pong" {
			t.Errorf("ping answered %v", m)
		}
		c.sendText(t, `{"type":`)
		if m := c.next(t); m["code"] != "malformed" {
			t.Errorf("malformed JSON answered %v", m)
		}
		c.sendText(t, `{"type":"ping","pad":"`+strings.Repeat("x", MaxInbound)+`"}`)
		if code, _ := c.closeCode(t); code != 1009 {
			t.Errorf("oversized frame closed with %d, want 1009", code)
		}
	})
}

// The client's close frame is echoed, and the connection ends.
func TestClientCloseIsEchoed(t *testing.T) {
	bothReaders(t, func(t *testing.T, newHub func(Config) (*Hub, *httptest.Server)) {
		h, srv := newHub(Config{})
		conn, br := rawDial(t, srv, nil)
		readServerFrame(t, br) // welcome
		if _, err := conn.Write(clientFrame(t, ws.OpClose, true, ws.NewCloseFrameBody(4001, "bye"))); err != nil {
			t.Fatal(err)
		}
		if code, _ := serverClose(t, br); code != 4001 {
			t.Errorf("close echoed with %d, want 4001", code)
		}
		conn.Close()
		waitConnections(t, h, 0)
	})
}

// A frame that breaks the protocol closes the connection with the code
// RFC 6455 gives it, after a close frame saying why.
func TestProtocolErrorsClose(t *testing.T) {
	unmasked, err := ws.CompileFrame(ws.NewTextFrame([]byte(`{"type":"ping"}`)))
	if err != nil {
		t.Fatal(err)
	}
	bothReaders(t, func(t *testing.T, newHub func(Config) (*Hub, *httptest.Server)) {
		h, srv := newHub(Config{})
		for _, tt := range []struct {
			name  string
			frame []byte
			code  ws.StatusCode
		}{
			{"unmasked", unmasked, ws.StatusProtocolError},
			{"invalid UTF-8", clientFrame(t, ws.OpText, true, []byte("\xff")), ws.StatusInvalidFramePayloadData},
			{"fragmented ping", clientFrame(t, ws.OpPing, false, nil), ws.StatusProtocolError},
		} {
			conn, br := rawDial(t, srv, nil)
			readServerFrame(t, br) // welcome
			if _, err := conn.Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			if code, reason := serverClose(t, br); code != tt.code || reason == "" {
				t.Errorf("%s: closed with %d %q, want %d and a reason", tt.name, code, reason, tt.code)
			}
		}
		if got := h.Stats().ProtocolErrors; got != 3 {
			t.Errorf("%d protocol errors counted, want 3", got)
		}
	})
}

// Frames a client sends right behind its handshake request are read.
func TestFramesBehindTheHandshake(t *testing.T) {
	bothReaders(t, func(t *testing.T, newHub func(Config) (*Hub, *httptest.Server)) {
		_, srv := newHub(Config{})
		_, br := rawDial(t, srv, clientFrame(t, ws.OpText, true, []byte(`{"type":"ping"}`)))
		var got []string
		for len(got) < 2 {
			op, p := readServerFrame(t, br)
			if op == ws.OpText {
				got = append(got, string(p))
			}
		}
		if !strings.Contains(got[0], `"welcome"`) || got[1] != `{"type":"pong"}` {
			t.Errorf("got %q, want the welcome and then a pong", got)
		}
	})
}

// A client's ping frame is answered with a pong carrying its payload.
func TestPingFrameIsAnswered(t *testing.T) {
	bothReaders(t, func(t *testing.T, newHub func(Config) (*Hub, *httptest.Server)) {
		_, srv := newHub(Config{})
		conn, br := rawDial(t, srv, nil)
		if _, err := conn.Write(clientFrame(t, ws.OpPing, true, []byte("are you there"))); err != nil {
			t.Fatal(err)
		}
		for {
			op, p := readServerFrame(t, br)
			if op == ws.OpPong {
				if string(p) != "are you there" {
					t.Errorf("pong carries %q", p)
				}
				return
			}
		}
	})
}

// waitConnections waits until the hub counts n open connections.
func waitConnections(t *testing.T, h *Hub, n int64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for h.Stats().Connections != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", h.Stats().Connections, n)
		}
		runtime.Gosched()
	}
}

// clientFrame is a frame as a client sends it: masked.
func clientFrame(t *testing.T, op ws.OpCode, fin bool, payload []byte) []byte {
	b, err := ws.CompileFrame(ws.MaskFrame(ws.NewFrame(op, fin, payload)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Frames that deliver no message still count against the inbound rate
// limit: a client flooding unsolicited pongs, or empty continuation
// frames of a message it never ends, is closed with 1008 like one
// flooding messages, and a healthy client beside them is not touched.
func TestEveryFrameCountsAgainstTheRateLimit(t *testing.T) {
	pong := func(t *testing.T) []byte { return clientFrame(t, ws.OpPong, true, nil) }
	continuation := func(t *testing.T) []byte { return clientFrame(t, ws.OpContinuation, false, nil) }
	bothReaders(t, func(t *testing.T, newHub func(Config) (*Hub, *httptest.Server)) {
		h, srv := newHub(Config{})
		healthy := mustDial(t, srv, "")
		healthy.next(t) // welcome
		for _, tt := range []struct {
			name  string
			start []byte                  // sent once, first
			frame func(*testing.T) []byte // then sent again and again
		}{
			{"pongs", nil, pong},
			{"empty continuations", clientFrame(t, ws.OpText, false, []byte(`{"type":`)), continuation},
		} {
			conn, br := rawDial(t, srv, nil)
			readServerFrame(t, br) // welcome
			// Far more frames than the burst, in one write: read at once,
			// before any token comes back.
			flood := append([]byte(nil), tt.start...)
			for range InboundBurst * 50 {
				flood = append(flood, tt.frame(t)...)
			}
			if _, err := conn.Write(flood); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if code, reason := serverClose(t, br); code != ws.StatusPolicyViolation || !strings.Contains(reason, "flood") {
				t.Errorf("%s: closed with %d %q, want 1008 naming the flood", tt.name, code, reason)
			}
			conn.Close()
		}
		waitConnections(t, h, 1)
		h.Publish(events(1, 3), nil)
		for want := uint64(1); want <= 3; want++ {
			if got := seqOf(t, healthy.next(t)); got != want {
				t.Fatalf("the healthy client got sequence %d, want %d", got, want)
			}
		}
		healthy.sendText(t, `{"type":"ping"}`)
		if m := healthy.next(t); m["type"] != "pong" {
			t.Errorf("the healthy client's ping answered %v", m)
		}
		if got := h.Stats().ProtocolErrors; got != 2 {
			t.Errorf("%d protocol errors counted, want 2 (the floods)", got)
		}
	})
}
