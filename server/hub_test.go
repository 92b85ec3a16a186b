package server_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/internal/web"
	"github.com/lineage-arena/lineage/metrics"
	"github.com/lineage-arena/lineage/server"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// StartHub serves a hub the caller feeds, as an edge does: a client gets
// the welcome and the events published; the API reads the
// given snapshot, /api/events without a log is 404, /readyz follows the
// given probe and /metrics carries the given sources' families.
func TestStartHub(t *testing.T) {
	srv, err := server.Listen(server.Config{WSAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(t.Context())
	if err := srv.StartHub(server.Hub{}); err == nil {
		t.Fatal("StartHub without a hub succeeded")
	}
	snap := &arena.Snapshot{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), NextSeq: 8, Rounds: 4}
	h := hub.New(hub.Config{})
	h.SetLastSeq(7, snap)
	var notReady atomic.Bool
	notReady.Store(true)
	err = srv.StartHub(server.Hub{
		Hub: h,
		API: web.Sources{Snapshot: func() *arena.Snapshot { return snap }},
		Metrics: metrics.Sources{Arena: func() *arena.Snapshot { return snap },
			Edge: func() metrics.EdgeStats { return metrics.EdgeStats{Delivered: 7, Lag: 2} }},
		Ready: func() error {
			if notReady.Load() {
				return errors.New("not caught up")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(t.Context(), "ws://"+srv.WSAddr()+"/ws", client.Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if w := c.Welcome(); w.Sequence != 7 {
		t.Errorf("welcome at %d, want 7", w.Sequence)
	}
	h.Publish([]arena.Event{{Seq: 8, Type: arena.EventRound, Time: snap.Time, Round: &arena.RoundResult{Number: 5}}}, snap)
	if m, err := c.Next(t.Context()); err != nil || m.Sequence != 8 || m.Type != "round" {
		t.Fatalf("first message: %+v %v, want round event 8", m, err)
	}

	if code, body := get(t, "http://"+srv.WSAddr()+"/api/leaderboard"); code != 200 || !strings.Contains(body, `"rounds":4`) {
		t.Errorf("/api/leaderboard: %d %s", code, body)
	}
	if code, body := get(t, "http://"+srv.WSAddr()+"/api/events"); code != 404 || !strings.Contains(body, "keeps no event log") {
		t.Errorf("/api/events: %d %s", code, body)
	}
	if code, body := get(t, "http://"+srv.MetricsAddr()+"/readyz"); code != 503 || !strings.Contains(body, "not caught up") {
		t.Errorf("/readyz while not ready: %d %s", code, body)
	}
	notReady.Store(false)
	if code, _ := get(t, "http://"+srv.MetricsAddr()+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready: %d", code)
	}
	_, body := get(t, "http://"+srv.MetricsAddr()+"/metrics")
	for _, want := range []string{"lineage_edge_lag_events 2", "lineage_edge_delivered_sequence 7", "lineage_active_connections 1"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if strings.Contains(body, "lineage_nats_") || strings.Contains(body, "lineage_eventlog_") {
		t.Error("/metrics of a hub without a log or a publisher has their families")
	}
}

// Go's profiles are on the metrics address only when asked for, with the
// hub's goroutines labelled by their work; without Pprof the path is 404.
func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		srv, err := server.Listen(server.Config{WSAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", Pprof: on})
		if err != nil {
			t.Fatal(err)
		}
		snap := func() *arena.Snapshot { return nil }
		if err := srv.StartHub(server.Hub{Hub: hub.New(hub.Config{}), API: web.Sources{Snapshot: snap}, Metrics: metrics.Sources{Arena: snap}}); err != nil {
			t.Fatal(err)
		}
		code, body := get(t, "http://"+srv.MetricsAddr()+"/debug/pprof/")
		if want := map[bool]int{false: 404, true: 200}[on]; code != want || on && !strings.Contains(body, "goroutine") {
			t.Errorf("Pprof %v: /debug/pprof/ answered %d, want %d", on, code, want)
		}
		if _, body := get(t, "http://"+srv.MetricsAddr()+"/debug/pprof/goroutine?debug=1"); on && !strings.Contains(body, `"hub":"liveness"`) {
			t.Error(`the goroutine profile has no goroutine labelled "hub":"liveness"`)
		}
		if code, _ := get(t, "http://"+srv.WSAddr()+"/debug/pprof/"); on && code == 200 {
			t.Error("/debug/pprof/ is served on the WebSocket address")
		}
		if code, _ := get(t, "http://"+srv.MetricsAddr()+"/metrics"); code != 200 {
			t.Errorf("Pprof %v: /metrics answered %d", on, code)
		}
		srv.Close(t.Context())
	}
}
