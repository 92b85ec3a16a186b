package loadtest

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gobwas/ws"

	"github.com/lineage-arena/lineage/internal/wsframe"
)

// testServer upgrades every request and hands the connection to
// script, on the handler's goroutine; the test waits for every script to
// return at cleanup. It returns the WebSocket URL.
func testServer(t *testing.T, script func(conn net.Conn, r *http.Request)) string {
	t.Helper()
	return startTestServer(t, httptest.NewServer, script)
}

// startTestServer is testServer started with start:
// httptest.NewServer or httptest.NewTLSServer.
func startTestServer(t *testing.T, start func(http.Handler) *httptest.Server, script func(conn net.Conn, r *http.Request)) string {
	t.Helper()
	var wg sync.WaitGroup
	srv := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer conn.Close()
		script(conn, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// newTestClient is client 0 of a run against url, in the window.
func newTestClient(t *testing.T, url string, extra ...func(*Config)) *client {
	t.Helper()
	cfg := Config{URL: url, Clients: 1, Duration: time.Second, MaxOpen: 1, Schema: "v1"}
	for _, x := range extra {
		x(&cfg)
	}
	p, err := newPlan(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(p)
	r.phase.Store(phaseWindow)
	return &client{run: r, done: make(chan struct{})}
}

// mustDial dials c, and bounds its reads so that a test that goes wrong
// fails instead of hanging.
func mustDial(t *testing.T, c *client) {
	t.Helper()
	if !c.dial(t.Context()) {
		t.Fatalf("dial: %s", c.dialErr)
	}
	c.conn.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
}

// serverFrame is a frame as the server sends it: unmasked.
func serverFrame(t testing.TB, f ws.Frame) []byte {
	t.Helper()
	b, err := ws.CompileFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func textFrame(t testing.TB, s string) []byte { return serverFrame(t, ws.NewTextFrame([]byte(s))) }

func closeFrameOf(t testing.TB, code ws.StatusCode, reason string) []byte {
	return serverFrame(t, ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason)))
}

func welcomeMsg(seq uint64) string {
	return fmt.Sprintf(`{"type":"welcome","client_id":1,"timestamp":"2026-02-03T14:30:45Z","message":"hi","sequence":%d}`, seq)
}

func marketMsg(seq uint64, at time.Time) string {
	return fmt.Sprintf(`{"event_type":"market","market":{"symbol":"BTC-USD","price":45150.32,"timestamp":%q,"change_percent":0.45},"agent":null,"sequence":%d}`,
		at.UTC().Format(time.RFC3339Nano), seq)
}

// readClientFrame reads a frame the client sent and checks that it is
// masked; the payload is returned unmasked.
func readClientFrame(conn net.Conn) (ws.Frame, error) {
	f, err := ws.ReadFrame(conn)
	if err != nil {
		return f, err
	}
	if !f.Header.Masked {
		return f, errors.New("a client frame is not masked")
	}
	ws.Cipher(f.Payload, f.Header.Mask, 0)
	return f, nil
}

// clientFrames reads the client's frames until its end, as "op payload"
// (and the read error, unless EOF); a close frame is answered with
// answer, when not nil.
func clientFrames(conn net.Conn, answer []byte) []string {
	var seen []string
	for {
		f, err := readClientFrame(conn)
		if err != nil {
			if err != io.EOF {
				seen = append(seen, err.Error())
			}
			return seen
		}
		seen = append(seen, fmt.Sprintf("%s %q", opName(f.Header.OpCode), f.Payload))
		if f.Header.OpCode == ws.OpClose && answer != nil {
			conn.Write(answer)
		}
	}
}

// scriptedClient dials a load client to a server that writes stream,
// then reads the client's frames (answering a close frame with answer,
// when not nil) and sends them on got once the client has ended.
func scriptedClient(t *testing.T, stream, answer []byte) (c *client, got chan []string) {
	t.Helper()
	got = make(chan []string, 1)
	url := testServer(t, func(conn net.Conn, _ *http.Request) {
		conn.Write(stream)
		got <- clientFrames(conn, answer)
	})
	c = newTestClient(t, url)
	mustDial(t, c)
	return c, got
}

// chunkConn reads at most n bytes at a time: every frame longer than n
// arrives in pieces.
type chunkConn struct {
	net.Conn
	n     int
	reads int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p[:min(len(p), c.n)])
}

// Messages split across reads are all counted, in order; a ping among
// them is answered with its payload; the server's close is recorded and
// echoed.
func TestConnSplitReads(t *testing.T) {
	at := time.Now()
	var stream []byte
	stream = append(stream, textFrame(t, welcomeMsg(10))...)
	stream = append(stream, textFrame(t, strings.Replace(marketMsg(10, at), `"sequence"`, `"snapshot":true,"sequence"`, 1))...)
	for seq := uint64(11); seq <= 40; seq++ {
		stream = append(stream, textFrame(t, marketMsg(seq, at))...)
		if seq == 25 {
			stream = append(stream, serverFrame(t, ws.NewPingFrame([]byte("ping-25")))...)
		}
	}
	stream = append(stream, closeFrameOf(t, 1000, "bye")...)
	frames := 2 + 30 + 1 + 1

	c, got := scriptedClient(t, stream, nil)
	cc := &chunkConn{Conn: c.conn.nc, n: 7}
	c.conn.nc = cc
	c.readLoop()

	if cc.reads <= frames {
		t.Fatalf("%d reads for %d frames: the frames were not split", cc.reads, frames)
	}
	if !c.welcomed || c.welcomeSeq != 10 || c.snapshots != 1 {
		t.Errorf("welcomed %v at %d, %d snapshots; want the welcome at 10 and 1 snapshot", c.welcomed, c.welcomeSeq, c.snapshots)
	}
	if c.events != 30 || c.winMsgs != 30 || c.last != 40 || c.winFirst != 11 || c.winLast != 40 {
		t.Errorf("events %d (window %d, %d to %d), last %d; want 30, 11 to 40", c.events, c.winMsgs, c.winFirst, c.winLast, c.last)
	}
	if c.gaps != 0 || c.dups != 0 || c.unparsed != 0 || c.untimed != 0 {
		t.Errorf("gaps %d, dups %d, unparsed %d, untimed %d; want none", c.gaps, c.dups, c.unparsed, c.untimed)
	}
	if l := c.run.lat.summary(); l == nil || l.Samples != 30 {
		t.Errorf("latency %+v, want 30 samples", l)
	}
	if how := closeReason(c.closeErr); how != "1000 bye" || !c.early {
		t.Errorf("ended %q (early %v), want 1000 bye, early", how, c.early)
	}
	want := []string{`pong "ping-25"`, `close "\x03\xe8"`}
	if s := <-got; strings.Join(s, "; ") != strings.Join(want, "; ") {
		t.Errorf("the server read %q, want %q", s, want)
	}
}

func opName(op ws.OpCode) string {
	switch op {
	case ws.OpText:
		return "text"
	case ws.OpPing:
		return "ping"
	case ws.OpPong:
		return "pong"
	case ws.OpClose:
		return "close"
	}
	return fmt.Sprintf("op %d", op)
}

// However a connection ends, the report names it: the server's close
// code and reason (answered with the code), the socket's end without a
// close frame, or a frame that broke the protocol (answered with its code).
// It ended early unless the run was closing. The server sends a welcome
// and a ping first, and ends the connection once the pong shows that the
// client has read them.
func TestConnEndings(t *testing.T) {
	start := append(textFrame(t, welcomeMsg(1)), serverFrame(t, ws.NewPingFrame([]byte("hello")))...)
	masked := serverFrame(t, ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"pong"}`))))
	for _, tc := range []struct {
		name    string
		send    []byte // after the pong
		reset   bool   // reset the connection instead of closing it
		closing bool   // the run is closing
		want    string
		answer  string // the client's frame to the server after the pong, if any
	}{
		{"too slow", closeFrameOf(t, 1008, "too slow: 512 messages queued"), false, false, "1008 too slow", `close "\x03\xf0"`},
		{"shutdown", closeFrameOf(t, 1001, "server shutting down"), false, true, "1001 server shutting down", `close "\x03\xe9"`},
		{"no code", serverFrame(t, ws.NewCloseFrame(nil)), false, false, "close frame without code", `close ""`},
		{"eof", nil, false, false, "eof, no close frame", ""},
		{"reset", nil, true, false, "reset, no close frame", ""},
		{"masked", masked, false, false, "protocol error: frames from server to client must be not masked", `close "\x03\xeaframes from server to client must be not masked"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer := make(chan string, 2)
			url := testServer(t, func(conn net.Conn, _ *http.Request) {
				conn.Write(start)
				f, err := readClientFrame(conn)
				if err != nil || f.Header.OpCode != ws.OpPong || string(f.Payload) != "hello" {
					answer <- fmt.Sprintf("not the pong: %v %v %q", err, f.Header.OpCode, f.Payload)
					return
				}
				switch {
				case tc.reset:
					conn.(*net.TCPConn).SetLinger(0)
					answer <- ""
				case tc.send == nil:
					answer <- ""
				default:
					conn.Write(tc.send)
					f, err := readClientFrame(conn)
					if err != nil {
						answer <- err.Error()
						return
					}
					answer <- fmt.Sprintf("%s %q", opName(f.Header.OpCode), f.Payload)
				}
			})
			c := newTestClient(t, url)
			if tc.closing {
				c.run.phase.Store(phaseClosing)
			}
			mustDial(t, c)
			c.readLoop()
			if a := <-answer; a != tc.answer {
				t.Errorf("the client answered %q, want %q", a, tc.answer)
			}
			if how := closeReason(c.closeErr); how != tc.want {
				t.Errorf("ended %q (%v), want %q", how, c.closeErr, tc.want)
			}
			if c.early == tc.closing {
				t.Errorf("early %v in phase closing %v", c.early, tc.closing)
			}
			if !c.welcomed {
				t.Error("the welcome before the end was lost")
			}
		})
	}
}

// The run's close goes out once with 1000; the server's answer ends the
// connection and is not answered again. A socket the run closes itself is
// reported as such.
func TestConnClosedByRun(t *testing.T) {
	welcome, answer := textFrame(t, welcomeMsg(1)), closeFrameOf(t, 1000, "")
	t.Run("close frame", func(t *testing.T) {
		c, got := scriptedClient(t, welcome, answer)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.readLoop()
		}()
		c.run.phase.Store(phaseClosing)
		c.conn.close(ws.StatusNormalClosure, "loadtest done")
		c.conn.close(ws.StatusNormalClosure, "loadtest done")
		<-done
		if how := closeReason(c.closeErr); how != "1000" || c.early {
			t.Errorf("ended %q, early %v; want 1000, not early", how, c.early)
		}
		want := []string{`close "\x03\xe8loadtest done"`}
		if s := <-got; strings.Join(s, "; ") != strings.Join(want, "; ") {
			t.Errorf("the server read %q, want %q", s, want)
		}
	})
	t.Run("socket", func(t *testing.T) {
		hold := make(chan struct{})
		url := testServer(t, func(conn net.Conn, _ *http.Request) {
			conn.Write(welcome)
			<-hold
		})
		defer close(hold)
		c := newTestClient(t, url)
		mustDial(t, c)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.readLoop()
		}()
		c.conn.nc.Close()
		<-done
		if how := closeReason(c.closeErr); how != "closed by loadtest" {
			t.Errorf("ended %q (%v), want closed by loadtest", how, c.closeErr)
		}
	})
}

// Frames the server writes along with its handshake response, in the same
// write, are read like any other.
func TestConnFramesWithTheHandshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	at := time.Now()
	frames := textFrame(t, welcomeMsg(5))
	for seq := uint64(6); seq <= 8; seq++ {
		frames = append(frames, textFrame(t, marketMsg(seq, at))...)
	}
	frames = append(frames, closeFrameOf(t, 1001, "going")...)
	served := make(chan error, 1)
	go func() {
		served <- func() error {
			conn, err := ln.Accept()
			if err != nil {
				return err
			}
			defer conn.Close()
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err != nil {
				return err
			}
			sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			out := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
			out = append(out, frames...)
			if _, err := conn.Write(out); err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, conn)
			return err
		}()
	}()
	c := newTestClient(t, "ws://"+ln.Addr().String()+"/")
	mustDial(t, c)
	if len(c.conn.early) == 0 {
		t.Fatal("no frame came with the handshake's response")
	}
	c.readLoop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if !c.welcomed || c.welcomeSeq != 5 || c.events != 3 || c.last != 8 || c.gaps != 0 {
		t.Errorf("welcomed %v at %d, %d events up to %d, %d gaps; want the welcome at 5 and 6 to 8", c.welcomed, c.welcomeSeq, c.events, c.last, c.gaps)
	}
	if how := closeReason(c.closeErr); how != "1001 going" {
		t.Errorf("ended %q, want 1001 going", how)
	}
}

// A wss connection is read like a ws one (the certificate, loopback's,
// is not verified).
func TestConnTLS(t *testing.T) {
	stream := append(textFrame(t, welcomeMsg(3)), textFrame(t, marketMsg(4, time.Now()))...)
	stream = append(stream, closeFrameOf(t, 1001, "server shutting down: bye")...)
	url := startTestServer(t, httptest.NewTLSServer, func(conn net.Conn, _ *http.Request) {
		conn.Write(stream)
		readClientFrame(conn)
	})
	c := newTestClient(t, url)
	mustDial(t, c)
	c.readLoop()
	if !c.welcomed || c.events != 1 || c.last != 4 {
		t.Errorf("welcomed %v, %d events up to %d; want the welcome and 4", c.welcomed, c.events, c.last)
	}
	if how := closeReason(c.closeErr); how != "1001 server shutting down" {
		t.Errorf("ended %q, want 1001 server shutting down", how)
	}
}

// A refused handshake is counted by its HTTP status; the request carried
// the URL's host and the token.
func TestConnRefused(t *testing.T) {
	seen := make(chan [2]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- [2]string{r.Host, r.Header.Get("Authorization")}
		http.Error(w, "full", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	c := newTestClient(t, url, func(cfg *Config) { cfg.Token = "s3cret" })
	if c.dial(t.Context()) {
		t.Fatal("dialled")
	}
	if c.dialErr != "http 503" {
		t.Errorf("failure %q, want http 503", c.dialErr)
	}
	host, auth := func(s [2]string) (string, string) { return s[0], s[1] }(<-seen)
	if want := strings.TrimPrefix(srv.URL, "http://"); host != want || auth != "Bearer s3cret" {
		t.Errorf("Host %q, Authorization %q; want %q and the token", host, auth, want)
	}
}

// A slow client stops reading at its first message: a ping that came with
// it is answered only once the run releases the client.
func TestConnSlowStopsReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(&plan{})
		r.phase.Store(phaseWindow)
		srv, cli := net.Pipe()
		c := &client{run: r, slow: true, conn: &wsConn{nc: cli}, dialStart: time.Now()}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.readLoop()
		}()
		frames := make(chan string, 4)
		go func() {
			defer close(frames)
			for {
				f, err := readClientFrame(srv)
				if err != nil {
					return
				}
				frames <- fmt.Sprintf("%s %q", opName(f.Header.OpCode), f.Payload)
			}
		}()
		srv.Write(append(textFrame(t, welcomeMsg(1)), serverFrame(t, ws.NewPingFrame([]byte("p")))...))
		synctest.Wait()
		if s := c.slowState.Load(); s != slowStopped || r.slowPending.Load() != 1 {
			t.Fatalf("slow state %d, %d pending; want stopped", s, r.slowPending.Load())
		}
		select {
		case f := <-frames:
			t.Fatalf("a stopped client wrote %s", f)
		default:
		}
		close(r.release)
		synctest.Wait()
		select {
		case f := <-frames:
			if f != `pong "p"` {
				t.Errorf("released, the client wrote %s; want the pong", f)
			}
		default:
			t.Fatal("released, the client did not answer the ping")
		}
		srv.Write(closeFrameOf(t, 1008, "too slow"))
		<-done
		srv.Close()
		if f := <-frames; f != `close "\x03\xf0"` {
			t.Errorf("the client answered the close with %s", f)
		}
		if how := closeReason(c.closeErr); how != "1008 too slow" || !c.stopped || !c.welcomed {
			t.Errorf("ended %q, stopped %v, welcomed %v", how, c.stopped, c.welcomed)
		}
	})
}

// BenchmarkRead is a client's work per message once the bytes are
// read: frames parsed, messages scanned and counted, latency recorded.
func BenchmarkRead(b *testing.B) {
	r := newRunner(&plan{})
	r.phase.Store(phaseWindow)
	c := &client{run: r, conn: &wsConn{}, welcomed: true, live: true}
	f := &frames{c: c, rd: wsframe.NewClientSide(maxMessage)}
	at := time.Now()
	var buf []byte
	const perRead = 40
	for seq := uint64(1); seq <= perRead; seq++ {
		buf = append(buf, textFrame(b, marketMsg(seq, at))...)
	}
	read := make([]byte, len(buf))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		copy(read, buf)
		c.last = 0
		f.feed(read, time.Now())
	}
	if c.events != uint64(b.N)*perRead || c.gaps != 0 {
		b.Fatalf("%d events, %d gaps after %d reads", c.events, c.gaps, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRead), "ns/msg")
}
