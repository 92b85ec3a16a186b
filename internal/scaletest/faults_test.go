//go:build integration

package scaletest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/internal/natstest"
	"github.com/lineage-arena/lineage/natspub"
)

// TestNATSFaults: the deployment of TestFailover — `lineage serve
// --nats-replicas 3`, two `lineage edge` processes, perEdge followers on
// each — on a NATS cluster of three nats-server processes (R3, file
// storage, sync_interval: always), through faults of NATS and of the
// stream, one after the other:
//
//  1. the nats-server process leading the stream is SIGKILLed, and
//     started again on its store: no follower is cut;
//  2. a missing tail: serve runs a while without --nats-url on its data
//     dir, then with it again: it republishes the tail, its lag returns
//     to 0, the edges deliver the tail;
//  3. a diverged stream: while serve is stopped, another writer appends a
//     forged event after the stream's last one; serve, started again,
//     reports the divergence and publishes nothing more, and stays ready;
//     the edges count chain failures, are not ready, and deliver nothing
//     past the stream's last true event;
//  4. the stream rebuilt as docs/operations.md says: deleted, and serve
//     started again republishes it from the log; the edges go on from
//     where they stopped.
//
// Across it all, every unfiltered follower gets every event once, in
// order (the true event, never the forged one, at its sequence), and no
// follower is cut.
func TestNATSFaults(t *testing.T) {
	cluster := startNATSCluster(t, 3)
	urls := cluster.urls()
	js := jsClient(t, urls)
	dataDir := t.TempDir()
	serveArgs := func(publish bool) []string {
		args := []string{"serve", "--data-dir", dataDir, "--seed", "7", "--tick-interval", "50ms",
			"--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}
		if publish {
			args = append(args, "--nats-url", urls, "--nats-replicas", "3")
		}
		return args
	}
	serve := start(t, "serve", serveArgs(true)...)
	serve.waitLog(t, `msg="publishing to jetstream"`, time.Minute)
	stream := field(t, serve.logs(), `msg="publishing to jetstream" .*stream=(\S+)`)
	edgeA := start(t, "edge-a", "edge", "--nats-url", urls, "--ws-addr", "127.0.0.2:0", "--metrics-addr", "127.0.0.2:0")
	edgeB := start(t, "edge-b", "edge", "--nats-url", urls, "--ws-addr", "127.0.0.3:0", "--metrics-addr", "127.0.0.3:0")
	edges := []*proc{edgeA, edgeB}
	edgeA.ready(t)
	edgeB.ready(t)
	fl := follow(t, perEdge, edgeA.ws, edgeB.ws)
	fl.reachUnfiltered(t, head(t, serve)+20, time.Minute)
	t.Logf("%d followers on 2 edges at event %d; NATS: 3 nats-server processes", len(fl.fs), head(t, serve))

	// 1. The process leading the stream SIGKILLed: the two nodes left elect
	// another leader, the publisher and the edges go on through them.
	leader := streamLeader(t, urls)
	node := cluster.node(t, leader)
	errs0, resets0 := num(t, serve, "lineage_nats_publish_errors_total"), num(t, edgeA, "lineage_edge_consumer_resets_total")+num(t, edgeB, "lineage_edge_consumer_resets_total")
	killed := time.Now()
	node.p.kill(t)
	pause := publisherPause(t, serve, killed, 200)
	fl.reachUnfiltered(t, head(t, serve)+20, time.Minute)
	if d := fl.drops(); d != 0 {
		t.Errorf("%d followers cut by the loss of the stream's leader process", d)
	}
	elected := "?"
	if info, err := js.Stream(t.Context(), stream); err == nil && info.CachedInfo().Cluster.LeaderSince != nil {
		elected = fmt.Sprintf("%s after %s", info.CachedInfo().Cluster.Leader, info.CachedInfo().Cluster.LeaderSince.Sub(killed).Round(time.Millisecond))
	}
	t.Logf("nats-server %s (the stream's leader) SIGKILLed: new leader %s; the publisher committed nothing for %s (%v publish errors: %s); "+
		"events stalled %s at the clients (the longest gap between two events); the edges read the stream anew %v times",
		leader, elected, pause.Round(time.Millisecond), num(t, serve, "lineage_nats_publish_errors_total")-errs0,
		strings.Join(logged(serve, `msg="jetstream publish failed.* err="([^"]*)"`), "; "),
		fl.stall(killed).Round(time.Millisecond), num(t, edgeA, "lineage_edge_consumer_resets_total")+num(t, edgeB, "lineage_edge_consumer_resets_total")-resets0)

	// ... and started again on its store: it catches up with the stream.
	restarted := time.Now()
	node.start(t)
	node.healthy(t)
	poll(t, time.Minute, "the restarted node a current replica of the stream", func() bool {
		info, err := js.Stream(t.Context(), stream)
		if err != nil {
			return false
		}
		c := info.CachedInfo().Cluster
		for _, r := range c.Replicas {
			if r.Name == leader {
				return c.Leader != "" && r.Current && !r.Offline
			}
		}
		return false
	})
	t.Logf("nats-server %s started again on its store: a current replica of the stream after %s", leader, time.Since(restarted).Round(time.Millisecond))
	fl.reachUnfiltered(t, head(t, serve)+20, time.Minute)

	// 2. A missing tail: serve runs a while without --nats-url on its
	// data dir (the stream falls behind the log), then with it again.
	serve.stop(t)
	plain := start(t, "serve-plain", serveArgs(false)...)
	from := logHead(t, plain)
	poll(t, time.Minute, "300 events logged without NATS", func() bool { return logHead(t, plain) >= from+300 })
	plain.stop(t)
	tailEnd := atoi(t, field(t, plain.logs(), `msg="shutting down" .*next_sequence=(\d+)`)) - 1
	streamLast := lastSeq(t, js, stream)
	if streamLast >= tailEnd {
		t.Fatalf("the stream ends at %d, the log at %d: no tail missing", streamLast, tailEnd)
	}
	restarted = time.Now()
	serve = start(t, "serve-tail", serveArgs(true)...)
	serve.waitLog(t, `msg="jetstream catching up from the log"`, time.Minute)
	catchUp := regexp.MustCompile(`msg="jetstream catching up from the log" .*from=(\d+) to=(\d+)`).FindStringSubmatch(serve.logs())
	if catchUp == nil || atoi(t, catchUp[1]) != streamLast+1 || atoi(t, catchUp[2]) < tailEnd {
		t.Errorf("serve caught up %v; want from %d to at least %d, the tail", catchUp, streamLast+1, tailEnd)
	}
	poll(t, time.Minute, "the tail published and lineage_nats_publisher_lag_events 0", func() bool {
		return head(t, serve) >= tailEnd && num(t, serve, "lineage_nats_publisher_lag_events") == 0
	})
	fl.reachUnfiltered(t, tailEnd, time.Minute)
	t.Logf("a tail of %d events (%d-%d) logged without NATS: republished, and at every follower %s after serve started with --nats-url",
		tailEnd-streamLast, streamLast+1, tailEnd, time.Since(restarted).Round(time.Millisecond))
	fl.reachUnfiltered(t, head(t, serve)+20, time.Minute)
	if d := fl.drops(); d != 0 {
		t.Errorf("%d followers cut across the missing tail", d)
	}

	// 3. A diverged stream: a forged event after the stream's last one.
	serve.stop(t)
	last := forgeNext(t, js, stream)
	for _, e := range edges {
		poll(t, time.Minute, e.name+" refusing the forged event", func() bool {
			code, body := get(t, e.metrics+"/readyz")
			return num(t, e, "lineage_edge_chain_failures_total") >= 1 && code == 503 &&
				strings.Contains(body, fmt.Sprintf("stopped before event %d", last+1))
		})
	}
	serve = start(t, "serve-diverged", serveArgs(true)...)
	poll(t, time.Minute, "serve: lineage_nats_stream_diverged 1", func() bool {
		return num(t, serve, "lineage_nats_stream_diverged") == 1
	})
	serve.waitLog(t, `level=ERROR msg="jetstream stream diverged from the event log: publishing stopped" stream=`+stream, time.Minute)
	poll(t, time.Minute, "serve's log 200 events past the forged one", func() bool { return logHead(t, serve) > last+200 })
	if code, body := get(t, serve.metrics+"/readyz"); code != 200 {
		t.Errorf("serve with a diverged stream: /readyz %d %q; want 200, it serves its own clients", code, body)
	}
	if n, b := lastSeq(t, js, stream), num(t, serve, "lineage_nats_batches_total"); n != last+1 || b != 0 {
		t.Errorf("diverged: the stream ends at %d after %v batches; want it left at the forged %d", n, b, last+1)
	}
	for _, e := range edges {
		if code, _ := get(t, e.metrics+"/readyz"); code != 503 {
			t.Errorf("%s: /readyz %d at a diverged stream, want 503", e.name, code)
		}
	}
	fl.reachUnfiltered(t, last, time.Minute)
	for _, f := range fl.fs {
		f.mu.Lock()
		if f.seen > last {
			t.Errorf("follower %d read event %d, past the stream's last true event %d", f.id, f.seen, last)
		}
		f.mu.Unlock()
	}
	t.Logf("a forged event %d: serve diverged, published nothing more while its log went past %d; edges stopped at %d with %v and %v chain failures",
		last+1, last+200, last, num(t, edgeA, "lineage_edge_chain_failures_total"), num(t, edgeB, "lineage_edge_chain_failures_total"))

	// 4. The stream rebuilt: deleted, and serve started again republishes
	// it from the log; the edges go on after their last verified event.
	serve.stop(t)
	if err := js.DeleteStream(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	restarted = time.Now()
	serve = start(t, "serve-rebuilt", serveArgs(true)...)
	fl.reachUnfiltered(t, last+1, time.Minute)
	t.Logf("stream deleted and serve started again: the %d events republished, the followers past event %d after %s",
		last+1, last+1, time.Since(restarted).Round(time.Millisecond))
	edgeA.ready(t)
	edgeB.ready(t)
	fl.reach(t, head(t, serve)+20, time.Minute)
	if d := fl.drops(); d != 0 {
		t.Errorf("%d followers cut by the rebuilt stream", d)
	}
	fl.check(t)
}

// publisherPause samples serve's published sequence every 20 ms from
// since until it has moved past its value then by more, and returns the
// longest time it stood still: from the last commit before a fault to the
// first after it.
func publisherPause(t *testing.T, serve *proc, since time.Time, more uint64) time.Duration {
	t.Helper()
	v0 := head(t, serve)
	prev, changed, longest := v0, since, time.Duration(0)
	poll(t, time.Minute, fmt.Sprintf("serve publishing %d events past %d", more, v0), func() bool {
		v := head(t, serve)
		if v != prev {
			longest = max(longest, time.Since(changed))
			prev, changed = v, time.Now()
		}
		return v >= v0+more
	})
	return longest
}

// logged returns the first submatch of each match of re in p's log.
func logged(p *proc, re string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(p.logs(), -1) {
		out = append(out, m[1])
	}
	return out
}

// num is the value of the sample name on p's /metrics (NaN when missing).
func num(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(metric(t, p, name), 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// atoi parses a sequence number the test read from a log.
func atoi(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("sequence %q: %v", s, err)
	}
	return n
}

// logHead is the last durable event of a serve's log.
func logHead(t *testing.T, serve *proc) uint64 {
	t.Helper()
	n := num(t, serve, "lineage_eventlog_durable_records")
	if !(n >= 1) {
		return 0
	}
	return uint64(n) - 1
}

// jsClient is a JetStream client of the test's own.
func jsClient(t *testing.T, urls string) jetstream.JetStream {
	t.Helper()
	return natstest.JetStream(t, urls)
}

// lastSeq is the stream's last sequence.
func lastSeq(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.LastSeq
}

// forgeNext appends to the stream, as another writer would, a market
// event of symbol forgedSymbol after its last message L: the headers of a
// published event, its sequence L+1 and its link to L's hash right, but a
// hash that is not its record's. It returns L.
func forgeNext(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	// A batch serve sent as it stopped may land first: then the stream's
	// last is read again.
	poll(t, time.Minute, "a forged event after the stream's last", func() bool {
		info, err := st.Info(t.Context())
		if err != nil {
			return false
		}
		last = info.State.LastSeq
		prev, err := st.GetMsg(t.Context(), last)
		if err != nil {
			return false
		}
		var ev arena.Event
		if err := json.Unmarshal(prev.Data, &ev); err != nil {
			t.Fatalf("stream message %d: %v", last, err)
		}
		ev.Seq, ev.Type = last+1, arena.EventMarket
		ev.Market = &arena.MarketEvent{Symbol: forgedSymbol, Price: 1, ChangePercent: 99}
		ev.Agent, ev.Trade, ev.Scar, ev.Death, ev.Spawn, ev.Round = nil, nil, nil, nil, nil, nil
		payload, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(payload)
		m := nats.NewMsg(prev.Subject)
		m.Header.Set(natspub.HeaderSeq, strconv.FormatUint(last+1, 10))
		m.Header.Set(natspub.HeaderPrev, prev.Header.Get(natspub.HeaderHash))
		m.Header.Set(natspub.HeaderHash, hex.EncodeToString(sum[:]))
		m.Header.Set(natspub.HeaderTime, prev.Header.Get(natspub.HeaderTime))
		m.Header.Set(natspub.HeaderType, string(arena.EventMarket))
		m.Data = payload
		_, err = js.PublishMsg(t.Context(), m, jetstream.WithExpectLastSequence(last))
		return err == nil
	})
	return last
}
