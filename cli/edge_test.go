package cli

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/internal/natstest"
)

// startEdge runs `lineage edge` in-process on free ports.
func startEdge(t *testing.T, args ...string) *serveProc {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &serveProc{logs: newLogWatcher(), cancel: cancel, exited: make(chan int, 1)}
	env := &cmdEnv{Stdout: &bytes.Buffer{}, Stderr: s.logs, Getenv: func(string) string { return "" }}
	args = append(args, "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	go func() { s.exited <- run(ctx, env, append([]string{"edge"}, args...)) }()
	t.Cleanup(cancel)
	return s
}

// addrs returns a started server's WebSocket URL and its metrics base URL.
func (s *serveProc) addrs(t *testing.T) (ws, metrics string) {
	t.Helper()
	s.logs.waitFor(t, "msg=metrics", s.exited)
	return field(t, s.logs.String(), "msg=serving", "websocket"),
		strings.TrimSuffix(field(t, s.logs.String(), "msg=metrics", "url"), "/metrics")
}

// events reads c's events until sequence last, checking that they come
// one after the other from its welcome on, and returns their frames.
func events(t *testing.T, c *client.Conn, last uint64) map[uint64][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	frames := map[uint64][]byte{}
	next := c.Welcome().Sequence + 1
	for next <= last {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("before event %d: %v", next, err)
		}
		if !m.Event || m.Snapshot {
			continue
		}
		if m.Sequence != next {
			t.Fatalf("event %d where %d was next", m.Sequence, next)
		}
		frames[m.Sequence] = bytes.Clone(m.Raw)
		next++
	}
	return frames
}

// TestEdgeServesWhatServeServes: serve --nats-url and an edge, both
// in-process, over an embedded NATS server. The edge finds the run's
// stream by itself, /readyz says 200 once it is caught up, and a client of
// the edge gets the welcome, then every event without a gap, the same
// frames a client of serve gets for the same sequences; the API, the
// dashboard and the metrics of both features are served; SIGINT sends
// 1001 to the edge's clients and the edge exits 0.
func TestEdgeServesWhatServeServes(t *testing.T) {
	ns := natstest.Start(t, "", 0)
	srv := startServer(t, "--data-dir", t.TempDir(), "--seed", "3", "--tick-interval", "2ms", "--nats-url", ns.ClientURL())
	serveWS, serveMetrics := srv.addrs(t)
	e := startEdge(t, "--nats-url", ns.ClientURL())
	edgeWS, edgeMetrics := e.addrs(t)

	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := httpGet(t, edgeMetrics+"/readyz")
		if code == 200 {
			break
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("edge /readyz: %d %s\n%s", code, body, e.logs)
		}
		<-tick.C // polling a real signal, with a deadline
	}

	ce, err := client.Dial(t.Context(), edgeWS, client.Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ce.Close()
	cs, err := client.Dial(t.Context(), serveWS, client.Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	from := max(ce.Welcome().Sequence, cs.Welcome().Sequence)
	last := from + 60
	viaEdge, viaServe := events(t, ce, last), events(t, cs, last)
	for seq := from + 1; seq <= last; seq++ {
		if !bytes.Equal(viaEdge[seq], viaServe[seq]) {
			t.Fatalf("event %d differs:\nedge  %s\nserve %s", seq, viaEdge[seq], viaServe[seq])
		}
	}

	if code, body := httpGet(t, strings.Replace(edgeWS, "ws://", "http://", 1)+"api/leaderboard"); code != 200 || !strings.Contains(body, `"leaderboard"`) {
		t.Errorf("edge /api/leaderboard: %d %s", code, body)
	}
	// /api/events: what serve's answers, for events both have.
	for _, q := range []string{"?since=0&limit=40", "?since=" + strconv.FormatUint(from, 10) + "&limit=20", "?since=18446744073709551615"} {
		ec, eb := httpGet(t, strings.Replace(edgeWS, "ws://", "http://", 1)+"api/events"+q)
		sc, sb := httpGet(t, strings.Replace(serveWS, "ws://", "http://", 1)+"api/events"+q)
		if ec != 200 || ec != sc || eb != sb {
			t.Errorf("/api/events%s:\nedge  %d %s\nserve %d %s", q, ec, eb, sc, sb)
		}
	}
	if code, _ := httpGet(t, strings.Replace(edgeWS, "ws://", "http://", 1)); code != 200 {
		t.Errorf("edge dashboard: %d", code)
	}
	_, em := httpGet(t, edgeMetrics+"/metrics")
	_, sm := httpGet(t, serveMetrics+"/metrics")
	for _, want := range []string{"\nlineage_edge_delivered_sequence ", "\nlineage_edge_lag_events ", "\nlineage_edge_chain_failures_total 0\n", "\nlineage_edge_consumer_resets_total "} {
		if !strings.Contains(em, want) {
			t.Errorf("edge /metrics has no %q", want)
		}
	}
	for _, want := range []string{"\nlineage_nats_published_sequence ", "\nlineage_nats_publisher_lag_events ", "\nlineage_nats_stream_diverged 0\n", "\nlineage_nats_batches_total "} {
		if !strings.Contains(sm, want) {
			t.Errorf("serve /metrics has no %q", want)
		}
	}
	if strings.Contains(em, "lineage_nats_") || strings.Contains(sm, "lineage_edge_") {
		t.Error("a feature's families on the process that does not use it")
	}
	// Both delay histograms timed the batches the client got.
	for _, h := range []struct{ body, name string }{{em, "lineage_edge_delivery_delay_seconds_count"}, {sm, "lineage_nats_publish_delay_seconds_count"}} {
		if n := sampleValue(h.body, h.name); n < 1 {
			t.Errorf("%s %v: want the batches timed", h.name, n)
		}
	}

	if code := e.stop(); code != 0 {
		t.Errorf("edge exited %d:\n%s", code, e.logs)
	}
	for {
		if _, err = ce.Next(t.Context()); err != nil {
			break
		}
	}
	var cerr *client.CloseError
	if !errors.As(err, &cerr) || cerr.Code != 1001 {
		t.Errorf("the edge's client ended with %v, want a 1001 close", err)
	}
	if code := srv.stop(); code != 0 {
		t.Errorf("serve exited %d:\n%s", code, srv.logs)
	}
}

// TestEdgeBadFlags: a bad command line exits 2 before anything is bound.
func TestEdgeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--nats-url", "http://127.0.0.1:4222"},
		{"--nats-url", "nats://127.0.0.1:4222", "--ring-events", "0"},
		{"--nats-url", "nats://127.0.0.1:4222", "--nats-run", "a.b"},
		{"--nats-url", "nats://127.0.0.1:4222", "--ws-addr", "nowhere"},
		{"--nats-url", "nats://127.0.0.1:4222", "--log-level", "loud"},
		{"--nats-url", "nats://127.0.0.1:4222", "extra"},
	} {
		r := runCmd(t, nil, append([]string{"edge"}, args...)...)
		if r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("edge %v: exit %d, %q; want 2 and one line", args, r.code, r.stderr)
		}
	}
}

// sampleValue is the value of the unlabelled sample name in a text
// exposition, -1 when there is none.
func sampleValue(body, name string) float64 {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return f
		}
	}
	return -1
}
