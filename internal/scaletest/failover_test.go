package scaletest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/internal/natstest"
)

// perEdge is the followers started on each edge.
const perEdge = 150

// head is the last sequence serve's publisher has in the stream.
func head(t *testing.T, serve *proc) uint64 {
	t.Helper()
	n, _ := strconv.ParseUint(metric(t, serve, "lineage_nats_published_sequence"), 10, 64)
	return n
}

// TestFailover: 3 NATS nodes (R3, file storage, sync always) in process,
// `lineage serve --nats-url … --nats-replicas 3` and two `lineage edge`
// processes on 127.0.0.2 and 127.0.0.3, perEdge followers on each, v1 and
// v2, a third filtered. Then, one after the other: an edge is SIGKILLed
// (its followers resume on the other edge), … Every follower gets every
// event once, in order, across it all.
func TestFailover(t *testing.T) {
	cluster := natstest.Cluster(t, 3)
	urls := natstest.URLs(cluster)
	serveArgs := []string{"serve", "--data-dir", t.TempDir(), "--seed", "7", "--tick-interval", "50ms",
		"--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--nats-url", urls, "--nats-replicas", "3"}
	serve := start(t, "serve", serveArgs...)
	edgeA := start(t, "edge-a", "edge", "--nats-url", urls, "--ws-addr", "127.0.0.2:0", "--metrics-addr", "127.0.0.2:0")
	edgeB := start(t, "edge-b", "edge", "--nats-url", urls, "--ws-addr", "127.0.0.3:0", "--metrics-addr", "127.0.0.3:0")
	edgeA.ready(t)
	edgeB.ready(t)
	fl := follow(t, perEdge, edgeA.ws, edgeB.ws)
	fl.reach(t, head(t, serve)+20, time.Minute)
	t.Logf("%d followers on 2 edges at event %d", len(fl.fs), head(t, serve))

	// An edge SIGKILLed mid-stream: its followers, and only they, resume on
	// the other edge after the last event they read.
	killed := time.Now()
	edgeA.kill(t)
	fl.reach(t, head(t, serve)+20, time.Minute)
	var resume []time.Duration
	for _, f := range fl.fs {
		onA := f.edges[0] == 0
		switch {
		case onA && (len(f.drops) != 1 || len(f.resumed) != 1 || f.edges[len(f.edges)-1] != 1):
			t.Errorf("follower %d of the killed edge: %d drops, %d resumes, on edges %v", f.id, len(f.drops), len(f.resumed), f.edges)
		case onA && f.types == nil: // a filtered one may wait long for its next event
			resume = append(resume, f.resumed[0].Sub(killed))
		case len(f.drops) != 0:
			t.Errorf("follower %d of the other edge was cut", f.id)
		}
	}
	slices.Sort(resume)
	if len(resume) > 0 {
		t.Logf("edge SIGKILL: %d unfiltered followers moved; first event on the other edge after p50 %s, max %s", len(resume),
			resume[len(resume)/2].Round(time.Millisecond), resume[len(resume)-1].Round(time.Millisecond))
	}
	fl.check(t)
}
