package server

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// startHTTP serves h on a bounded listener with lim.
func startHTTP(t *testing.T, lim httpLimits, h http.Handler) *httpServer {
	t.Helper()
	s, err := listen("127.0.0.1:0", lim)
	if err != nil {
		t.Fatal(err)
	}
	s.serve(h, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { s.stop(time.Second) })
	return s
}

// keepAlive is a client connection that makes requests one after another.
type keepAlive struct {
	c  net.Conn
	rd *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, rd: bufio.NewReader(c)}
}

// get makes one request and returns its status, or the error that ended
// the connection instead.
func (k *keepAlive) get(path string) (int, error) {
	k.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(k.c, "GET "+path+" HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return 0, err
	}
	req, _ := http.NewRequest("GET", path, nil)
	resp, err := http.ReadResponse(k.rd, req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// closedByServer reports whether the server closed c (EOF or a reset)
// within a deadline, as opposed to leaving it open.
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// Past the bound a new connection is closed at once, whatever it is;
// connections already open — idle keep-alives included — go on, and one
// closing makes room for the next.
func TestBoundedListenerRefusesPastTheBound(t *testing.T) {
	const bound = 4
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := startHTTP(t, httpLimits{MaxConns: bound}, ok)
	keeper := dialKeepAlive(t, s.addr)
	if code, err := keeper.get("/"); code != 200 {
		t.Fatalf("first client: %d, %v", code, err)
	}
	var idle []*keepAlive
	for range bound - 1 {
		k := dialKeepAlive(t, s.addr)
		if code, err := k.get("/"); code != 200 {
			t.Fatalf("client within the bound: %d, %v", code, err)
		}
		idle = append(idle, k) // and left open, idle
	}
	for range 3 {
		extra := dialKeepAlive(t, s.addr)
		if code, err := extra.get("/"); err == nil {
			t.Fatalf("a connection past the bound of %d answered %d", bound, code)
		}
	}
	if s.ln.refused.Load() != 3 {
		t.Errorf("%d connections refused, want 3", s.ln.refused.Load())
	}
	if code, err := keeper.get("/"); code != 200 {
		t.Fatalf("a client connected before the flood: %d, %v", code, err)
	}
	// One idle client leaves: the next gets in.
	idle[0].c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.ln.open.Load() >= bound {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted after one closed", s.ln.open.Load())
		}
		select {
		case <-time.After(time.Millisecond): // polling the counter, with a deadline
		case <-t.Context().Done():
		}
	}
	if code, err := dialKeepAlive(t, s.addr).get("/"); code != 200 {
		t.Errorf("after a client left: %d, %v", code, err)
	}
}

// An idle keep-alive connection is closed after the idle timeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	// Read timeouts of a minute: the idle timeout, not them, closes it.
	s := startHTTP(t, httpLimits{MaxConns: 8, IdleTimeout: 50 * time.Millisecond, ReadTimeout: time.Minute, ReadHeaderTimeout: time.Minute}, ok)
	k := dialKeepAlive(t, s.addr)
	if code, err := k.get("/"); code != 200 {
		t.Fatalf("%d, %v", code, err)
	}
	if !closedByServer(t, k.c) {
		t.Fatal("an idle keep-alive connection was still open 5 s after a 50 ms idle timeout")
	}
}

// A hijacked connection (a WebSocket) is not held to the request's
// deadlines: it reads and writes on after ReadTimeout and WriteTimeout.
func TestHijackedConnOutlivesReadTimeout(t *testing.T) {
	const readTimeout = 50 * time.Millisecond
	handlerErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			handlerErr <- err
			return
		}
		defer c.Close()
		io.WriteString(c, "ready\n")
		line, err := rw.ReadString('\n')
		if err == nil {
			_, err = io.WriteString(c, "echo "+line)
		}
		handlerErr <- err
	})
	s := startHTTP(t, httpLimits{ReadTimeout: readTimeout, WriteTimeout: readTimeout}, h)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
	rd := bufio.NewReader(c)
	if line, err := rd.ReadString('\n'); line != "ready\n" {
		t.Fatalf("%q, %v", line, err)
	}
	<-time.After(4 * readTimeout) // the time under test: past the read deadline
	io.WriteString(c, "ping\n")
	if err := <-handlerErr; err != nil {
		t.Fatalf("the hijacked connection failed after the request's timeouts: %v", err)
	}
	if line, _ := rd.ReadString('\n'); line != "echo ping\n" {
		t.Errorf("echo %q", line)
	}
}
