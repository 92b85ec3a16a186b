package cli

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failWrites makes the writes of kind op — the event log's, or
// "tombstone" — fail with ENOSPC while the returned switch is on.
func failWrites(t *testing.T, op string) *atomic.Bool {
	var on atomic.Bool
	logFault = func(o string) error {
		if on.Load() && o == op {
			return syscall.ENOSPC
		}
		return nil
	}
	t.Cleanup(func() { logFault = nil })
	return &on
}

// waitReady polls /readyz until its answer is code with a body containing
// want, and returns the body.
func waitReady(t *testing.T, metricsURL string, code int, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got, body := httpGet(t, strings.Replace(metricsURL, "/metrics", "/readyz", 1))
		if got == code && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q; want %d with %q", got, body, code, want)
		}
		<-tick.C // polling the real signal, with a deadline
	}
}

// pingPong sends a ping and returns every event received before the pong:
// the connection is alive, and what it had to deliver is delivered.
func (c *wsConn) pingPong(t *testing.T) []map[string]any {
	t.Helper()
	if err := c.conn.WriteString(`{"type":"ping"}`); err != nil {
		t.Fatalf("ping: %v", err)
	}
	var evs []map[string]any
	for {
		m := c.next(t)
		if m["type"] == "pong" {
			return evs
		}
		if m["snapshot"] != true && m["type"] == nil {
			evs = append(evs, m)
		}
	}
}

// A failing fsync holds the server without stopping it: /readyz says why,
// connected clients stay connected and get nothing that is not durable, the
// API and resumes read the log; when the disk is back the arena goes on,
// and every client sees one gap-free sequence with no number reused.
func TestServeHoldsOnAFailingWriteAndResumes(t *testing.T) {
	fail := failWrites(t, "fsync")
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--seed", "3", "--tick-interval", "2ms", "--agent-interval", "10ms", "--round-ticks", "50")
	s.logs.waitFor(t, "msg=metrics", s.exited)
	logs := s.logs.String()
	ws, metricsURL := field(t, logs, "msg=serving", "websocket"), field(t, logs, "msg=metrics", "url")
	api := strings.Replace(ws, "ws://", "http://", 1) + "api/"
	waitReady(t, metricsURL, 200, "ok")

	c := wsDial(t, ws)
	var seen []uint64 // every event sequence c received, in order
	take := func(evs []map[string]any) {
		for _, m := range evs {
			seen = append(seen, seqOf(m))
		}
	}
	for len(seen) < 50 {
		if m := c.next(t); m["snapshot"] != true && m["type"] == nil {
			seen = append(seen, seqOf(m))
		}
	}

	fail.Store(true)
	body := waitReady(t, metricsURL, 503, "no space left on device")
	if !strings.Contains(body, "write failing") {
		t.Errorf("/readyz while fsync fails: %q", body)
	}
	s.logs.waitFor(t, "write failed: the arena is held", s.exited)
	held, err := strconv.ParseUint(field(t, s.logs.String(), "write failed", "first_held"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// Connected: a ping is answered, and nothing at or past the first held
	// sequence arrived, however long the failure lasts (three rounds).
	for range 3 {
		take(c.pingPong(t))
		waitReady(t, metricsURL, 503, "no space left on device")
	}
	if last := seen[len(seen)-1]; last >= held {
		t.Fatalf("a client got sequence %d while %d on were not durable", last, held)
	}
	// Reads are served: the API from the log, and a resume up to the last
	// durable event.
	if code, body := httpGet(t, api+fmt.Sprintf("events?since=%d&limit=10", held-3)); code != 200 || strings.Count(body, `"sequence":`) != 2 {
		t.Errorf("GET /api/events past the held events: %d %s", code, body)
	}
	r := wsDial(t, ws+fmt.Sprintf("?since=%d", held-3))
	var resumed []uint64
	for len(resumed) < 2 {
		if m := r.next(t); m["snapshot"] != true && m["type"] == nil {
			resumed = append(resumed, seqOf(m))
		}
	}
	for _, m := range r.pingPong(t) {
		resumed = append(resumed, seqOf(m))
	}
	if fmt.Sprint(resumed) != fmt.Sprint([]uint64{held - 2, held - 1}) {
		t.Errorf("resumed while held from %d: got %v", held-3, resumed)
	}

	fail.Store(false)
	waitReady(t, metricsURL, 200, "ok")
	s.logs.waitFor(t, "writes succeed again", s.exited)
	t.Logf("held from sequence %d; the client had %d events, up to %d", held, len(seen), seen[len(seen)-1])
	for seen[len(seen)-1] < held+100 {
		if m := c.next(t); m["snapshot"] != true && m["type"] == nil {
			seen = append(seen, seqOf(m))
		}
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[i-1]+1 {
			t.Fatalf("sequence %d after %d: a gap or a repeat across the failure", seen[i], seen[i-1])
		}
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, lastLines(s.logs.String(), 5))
	}
	if r := runCmd(t, nil, "verify", "--data-dir", dir); r.code != 0 {
		t.Errorf("verify after the failure: exit %d, %s", r.code, r.stderr)
	}
}

// A tombstone that cannot be written holds the arena too, and /readyz
// says which; the tombstone is written when the disk is back.
func TestServeHoldsOnAFailingTombstone(t *testing.T) {
	dir := deadRun(t)
	mustRemove(t, filepath.Join(dir, "graveyard", "Reckless.tomb"))
	failing := failWrites(t, "tombstone")
	failing.Store(true)
	s := startServer(t, "--data-dir", dir, "--tick-interval", "1ms")
	s.logs.waitFor(t, "msg=metrics", s.exited)
	metricsURL := field(t, s.logs.String(), "msg=metrics", "url")
	waitReady(t, metricsURL, 503, "bury Reckless")
	next := field(t, s.logs.String(), "write failed", "next_sequence")
	if resumed := field(t, s.logs.String(), "arena resumed", "next_sequence"); next != resumed {
		t.Errorf("held at %s, resumed at %s: the arena went on with a tombstone unwritten", next, resumed)
	}
	failing.Store(false)
	waitReady(t, metricsURL, 200, "ok")
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, lastLines(s.logs.String(), 5))
	}
	if r := runCmd(t, nil, "verify", "--data-dir", dir); r.code != 0 {
		t.Errorf("verify after the burial: exit %d, %s", r.code, r.stderr)
	}
}
