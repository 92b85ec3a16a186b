//go:build integration

package scaletest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
// (its followers resume on the other edge); the node leading the stream
// is shut down (no follower is cut); the engine is SIGKILLed and started
// again on its data dir (the followers stay on their edge). Every follower
// gets every event once, in order, across it all.
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
		f.mu.Lock()
		onA := f.edges[0] == 0
		switch {
		case onA && (len(f.drops) != 1 || len(f.resumed) != 1 && f.types == nil || f.edges[len(f.edges)-1] != 1):
			t.Errorf("follower %d of the killed edge: %d drops, %d resumes, on edges %v", f.id, len(f.drops), len(f.resumed), f.edges)
		case !onA && len(f.drops) != 0:
			t.Errorf("follower %d of the other edge was cut", f.id)
		case onA && f.types == nil: // a filtered one may wait long for its next event
			resume = append(resume, f.resumed[0].Sub(killed))
		}
		f.mu.Unlock()
	}
	slices.Sort(resume)
	if len(resume) > 0 {
		t.Logf("edge SIGKILL: %d unfiltered followers moved; first event on the other edge after p50 %s, max %s", len(resume),
			resume[len(resume)/2].Round(time.Millisecond), resume[len(resume)-1].Round(time.Millisecond))
	}

	// The stream's leader shut down: the stream stalls while the two nodes
	// left elect another, and goes on; no follower is cut.
	leader := streamLeader(t, urls)
	var left []*server.Server
	for _, s := range cluster {
		if s.Name() == leader {
			killed = time.Now()
			s.Shutdown()
			s.WaitForShutdown()
		} else {
			left = append(left, s)
		}
	}
	if len(left) != 2 {
		t.Fatalf("stream leader %q is not one of the cluster's nodes", leader)
	}
	drops := fl.drops()
	fl.reach(t, head(t, serve)+20, time.Minute)
	if d := fl.drops() - drops; d != 0 {
		t.Errorf("%d followers cut by the leader's loss", d)
	}
	t.Logf("stream leader %s shut down: events stalled %s at the clients (the longest gap between two events)",
		leader, fl.stall(killed).Round(time.Millisecond))

	// The engine SIGKILLed and started again on its data dir: the publisher
	// reconciles the stream with the log and goes on; the followers stay on
	// their edge.
	before := head(t, serve)
	serve.kill(t)
	killed = time.Now()
	serve = start(t, "serve-2", serveArgs...)
	fl.reach(t, before+20, time.Minute)
	fl.reach(t, head(t, serve)+20, time.Minute)
	if d := fl.drops() - drops; d != 0 {
		t.Errorf("%d followers cut by the engine's restart", d)
	}
	t.Logf("engine SIGKILLed at event %d and restarted: events stalled %s at the clients", before, fl.stall(killed).Round(time.Millisecond))
	fl.check(t)
}

// streamLeader returns the name of the node that leads the run's stream.
func streamLeader(t *testing.T, urls string) string {
	t.Helper()
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	l := js.ListStreams(t.Context(), jetstream.WithStreamListSubject("lineage.*.events"))
	var leaders []string
	for info := range l.Info() {
		if info.Cluster != nil {
			leaders = append(leaders, info.Cluster.Leader)
		}
	}
	if l.Err() != nil || len(leaders) != 1 || leaders[0] == "" {
		t.Fatalf("the run's stream leader: %v %v", leaders, l.Err())
	}
	return leaders[0]
}
