package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/lineage-arena/lineage/engine"
)

// wsConn is a WebSocket client of a running server.
type wsConn struct {
	conn   *gws.Conn
	msgs   chan map[string]any
	raw    chan []byte // the messages' bytes instead, when set
	closed chan error
}

type wsHandler struct{ c *wsConn }

func (h wsHandler) OnOpen(*gws.Conn)               {}
func (h wsHandler) OnClose(_ *gws.Conn, err error) { h.c.closed <- err }
func (h wsHandler) OnPing(c *gws.Conn, p []byte)   { c.WritePong(p) }
func (h wsHandler) OnPong(*gws.Conn, []byte)       {}
func (h wsHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	if h.c.raw != nil {
		h.c.raw <- bytes.Clone(m.Bytes())
		m.Close()
		return
	}
	var v map[string]any
	json.Unmarshal(m.Bytes(), &v)
	m.Close()
	h.c.msgs <- v
}

func wsDial(t *testing.T, url string) *wsConn {
	t.Helper()
	return wsDialConn(t, url, &wsConn{msgs: make(chan map[string]any, 100_000), closed: make(chan error, 1)})
}

// wsDialRaw is wsDial for a client that reads the messages' bytes (raw).
func wsDialRaw(t *testing.T, url string) *wsConn {
	t.Helper()
	return wsDialConn(t, url, &wsConn{raw: make(chan []byte, 100_000), closed: make(chan error, 1)})
}

func wsDialConn(t *testing.T, url string, c *wsConn) *wsConn {
	t.Helper()
	conn, _, err := gws.NewClient(wsHandler{c}, &gws.ClientOption{Addr: url, ReadMaxPayloadSize: 1 << 20})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { conn.NetConn().Close() })
	return c
}

func (c *wsConn) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case err := <-c.closed:
		t.Fatalf("closed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
	return nil
}

func seqOf(m map[string]any) uint64 {
	v, _ := m["sequence"].(float64)
	return uint64(v)
}

// A served arena streams its own events over WebSocket, in order, and its
// API answers; a client resumes across a server restart with no gap and no
// duplicate; shutdown closes clients with 1001.
func TestServeStreamsAndResumesAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--seed", "2", "--tick-interval", "2ms", "--agent-interval", "20ms", "--round-ticks", "50")
	s.logs.waitFor(t, "msg=serving", s.exited)
	base := field(t, s.logs.String(), "msg=serving", "websocket")
	c := wsDial(t, base)
	w := c.next(t)
	if w["type"] != "welcome" || w["message"] != "Connected to Lineage WebSocket broadcast server" {
		t.Fatalf("welcome %v", w)
	}
	var last uint64
	live := 0
	types := map[string]bool{}
	for live < 300 {
		m := c.next(t)
		if m["snapshot"] == true {
			continue
		}
		seq := seqOf(m)
		if last != 0 && seq != last+1 {
			t.Fatalf("sequence %d after %d", seq, last)
		}
		last = seq
		types[m["event_type"].(string)] = true
		live++
	}
	for _, want := range []string{"market", "agent"} {
		if !types[want] {
			t.Errorf("no %s event in 300 live messages: %v", want, types)
		}
	}
	api := strings.Replace(base, "ws://", "http://", 1)
	for _, path := range []string{"api/agents", "api/agents/Momentum", "api/market", "api/leaderboard", "api/graveyard", "api/events?since=5&limit=3"} {
		resp, err := http.Get(api + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !json.Valid(body) {
			t.Errorf("GET /%s: %d %s", path, resp.StatusCode, body)
		}
		if strings.HasPrefix(path, "api/events") && strings.Count(string(body), `"sequence":`) != 3 {
			t.Errorf("GET /%s gave %s", path, body)
		}
	}
	if resp, _ := http.Get(api + "nope"); resp == nil || resp.StatusCode != 404 {
		t.Errorf("unknown path: %v", resp)
	}

	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	select {
	case err := <-c.closed:
		var ce *gws.CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Errorf("closed with %v, want 1001", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client not closed at shutdown")
	}
	// Read what the client had not taken before the close.
	for drained := false; !drained; {
		select {
		case m := <-c.msgs:
			if m["snapshot"] != true && seqOf(m) == last+1 {
				last++
			}
		default:
			drained = true
		}
	}

	s = startServer(t, "--data-dir", dir, "--tick-interval", "2ms", "--agent-interval", "20ms")
	s.logs.waitFor(t, "msg=serving", s.exited)
	base = field(t, s.logs.String(), "msg=serving", "websocket")
	c = wsDial(t, base+"?since="+strconv.FormatUint(last, 10))
	c.next(t) // welcome
	for range 200 {
		m := c.next(t)
		if m["type"] == "resume" {
			t.Fatalf("resume refused: %v", m)
		}
		seq := seqOf(m)
		if seq != last+1 {
			t.Fatalf("after the restart: sequence %d after %d", seq, last)
		}
		last = seq
	}
	s.stop()
}

// /api/agents/{id} has the agent's scars and recent trades, rebuilt from
// the log after a restart.
func TestAgentAPIAfterARestart(t *testing.T) {
	dir := deadRun(t)
	s := startServer(t, "--data-dir", dir, "--tick-interval", "1ms")
	s.logs.waitFor(t, "msg=serving", s.exited)
	api := strings.Replace(field(t, s.logs.String(), "msg=serving", "websocket"), "ws://", "http://", 1)
	resp, err := http.Get(api + "api/agents/Reckless")
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Status  string `json:"status"`
		ScarLog []any  `json:"scar_log"`
		Trades  []struct {
			Seq   uint64 `json:"sequence"`
			Agent string `json:"agent_id"`
		} `json:"trades"`
	}
	json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	s.stop()
	if a.Status != "deceased" || len(a.ScarLog) != 5 || len(a.Trades) != engine.RecentTrades {
		t.Fatalf("Reckless after a restart: status %s, %d scars, %d trades", a.Status, len(a.ScarLog), len(a.Trades))
	}
	for i, tr := range a.Trades {
		if tr.Agent != "Reckless" || (i > 0 && tr.Seq <= a.Trades[i-1].Seq) {
			t.Fatalf("trade %d: %+v (previous %+v)", i, tr, a.Trades[max(0, i-1)])
		}
	}
}
