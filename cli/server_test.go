package cli

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConnsBound(t *testing.T) {
	for _, tt := range []struct {
		limit uint64
		want  int
	}{
		{0, -1}, {100, 0}, {fdReserve + metricsMaxConns, 0}, {256, 256 - fdReserve - metricsMaxConns}, {1 << 20, 1<<20 - fdReserve - metricsMaxConns},
	} {
		if got := connsBound(tt.limit); got != tt.want {
			t.Errorf("connsBound(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
	if limit := openFilesLimit(); limit > 0 {
		r := runCmd(t, nil, "serve", "--data-dir", t.TempDir(), "--max-conns", strings.Repeat("9", 9))
		if r.code != 2 || !strings.Contains(r.stderr, "open-files limit") {
			t.Errorf("--max-conns past the limit: exit %d, %q", r.code, r.stderr)
		}
	}
}

// serve with --max-conns 3: a WebSocket client and two idle keep-alive API
// clients fill it; more connections are closed at once, while the
// WebSocket client goes on receiving the arena's events — the log goes on
// being written — and the API clients go on being answered.
func TestServeBoundsEveryConnection(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--seed", "4", "--tick-interval", "1ms", "--max-conns", "3")
	s.logs.waitFor(t, "msg=serving", s.exited)
	base := field(t, s.logs.String(), "msg=serving", "websocket")
	addr := strings.TrimSuffix(strings.TrimPrefix(base, "ws://"), "/")
	ws := wsDial(t, base)
	var idle []*keepAlive
	for range 2 {
		k := dialKeepAlive(t, addr)
		if code, err := k.get("/api/market"); code != 200 {
			t.Fatalf("API client within the bound: %d, %v", code, err)
		}
		idle = append(idle, k)
	}
	for range 5 {
		if code, err := dialKeepAlive(t, addr).get("/api/market"); err == nil {
			t.Fatalf("a connection past --max-conns 3 answered %d", code)
		}
	}
	var last uint64
	for seen := 0; seen < 50; {
		m := ws.next(t)
		if seq := seqOf(m); seq > last {
			last, seen = seq, seen+1
		}
	}
	for _, k := range idle {
		if code, err := k.get("/api/agents"); code != 200 {
			t.Errorf("an idle API client after the refusals: %d, %v", code, err)
		}
	}
	if code := s.stop(); code != 0 {
		t.Errorf("exit %d:\n%s", code, s.logs)
	}
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
