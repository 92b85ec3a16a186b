package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/internal/natstest"
	"github.com/lineage-arena/lineage/natspub"
)

// TestServePublishesToNATS: with --nats-url every committed event reaches
// the JetStream stream at its own sequence, carrying its sequence header,
// and serve still stops cleanly.
func TestServePublishesToNATS(t *testing.T) {
	ns := natstest.Start(t, "", 0)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 4096)
	if _, err := nc.ChanSubscribe("lineage.*.events", msgs); err != nil {
		t.Fatal(err)
	}

	s := startServer(t, "--data-dir", t.TempDir(), "--seed", "3", "--tick-interval", "1ms", "--nats-url", ns.ClientURL())
	const want = 50
	timeout := time.After(30 * time.Second)
	subject := ""
	for seq := uint64(1); seq <= want; seq++ {
		select {
		case m := <-msgs:
			subject = m.Subject
			if got := m.Header.Get(natspub.HeaderSeq); got != strconv.FormatUint(seq, 10) {
				t.Fatalf("message %d carries %s %q", seq, natspub.HeaderSeq, got)
			}
			var ev struct {
				Sequence uint64 `json:"sequence"`
			}
			if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Sequence != seq {
				t.Fatalf("message %d: payload sequence %d (%v): %s", seq, ev.Sequence, err, m.Data)
			}
		case code := <-s.exited:
			t.Fatalf("serve exited %d before event %d reached NATS:\n%s", code, seq, s.logs)
		case <-timeout:
			t.Fatalf("event %d never reached NATS:\n%s", seq, s.logs)
		}
	}
	// The log names the run, as an edge's --nats-run takes it.
	id := field(t, s.logs.String(), `msg="publishing to jetstream"`, "run")
	if subject != "lineage."+id+".events" || field(t, s.logs.String(), `msg="publishing to jetstream"`, "stream") != "LINEAGE_"+id {
		t.Errorf("serve logs run %s; the events went to %s:\n%s", id, subject, s.logs)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}
}

// TestServeStaysReadyWhenTheStreamDiverged: a stream that differs from the
// log stops the publisher, and serve says so — lineage_nats_stream_diverged
// 1 and a line at error level naming the stream — but stays ready: /readyz
// is about serving its own clients, which it still does from the log.
func TestServeStaysReadyWhenTheStreamDiverged(t *testing.T) {
	ns := natstest.Start(t, "", 0)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--data-dir", t.TempDir(), "--seed", "3", "--tick-interval", "1ms", "--nats-url", ns.ClientURL()}
	s := startServer(t, args...)
	s.logs.waitFor(t, `msg="publishing to jetstream"`, s.exited)
	stream := field(t, s.logs.String(), `msg="publishing to jetstream"`, "stream")
	var last uint64
	waitUntil(t, "20 events in the stream", func() bool {
		info, err := js.Stream(t.Context(), stream)
		if err == nil {
			last = info.CachedInfo().State.LastSeq
		}
		return last >= 20
	})
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}

	// Another writer appends the next event, linked to the stream's last
	// one, with a hash its content does not have. (A batch serve sent as
	// it stopped may still land first: then the stream's last is read
	// again.)
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a forged event after the stream's last", func() bool {
		info, err := st.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		last = info.State.LastSeq
		prev, err := st.GetMsg(t.Context(), last)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(prev.Subject)
		m.Header.Set(natspub.HeaderSeq, strconv.FormatUint(last+1, 10))
		m.Header.Set(natspub.HeaderPrev, prev.Header.Get(natspub.HeaderHash))
		m.Header.Set(natspub.HeaderHash, strings.Repeat("0", 64))
		m.Header.Set(natspub.HeaderTime, prev.Header.Get(natspub.HeaderTime))
		m.Header.Set(natspub.HeaderType, "market")
		m.Data = []byte(`{"sequence":` + strconv.FormatUint(last+1, 10) + `}`)
		_, err = js.PublishMsg(t.Context(), m, jetstream.WithExpectLastSequence(last))
		return err == nil
	})

	s = startServer(t, args...)
	_, metricsBase := s.addrs(t)
	metricsURL := metricsBase + "/metrics"
	waitUntil(t, "lineage_nats_stream_diverged 1", func() bool {
		_, body := httpGet(t, metricsURL)
		return strings.Contains(body, "\nlineage_nats_stream_diverged 1\n")
	})
	s.logs.waitFor(t, `level=ERROR msg="jetstream stream diverged from the event log: publishing stopped" stream=`+stream, s.exited)
	waitReady(t, metricsURL, 200, "ok")
	// It goes on serving: its log grows past the forged event, the stream
	// does not.
	waitUntil(t, "the log 100 events past the forged one", func() bool {
		_, body := httpGet(t, metricsURL)
		for l := range strings.SplitSeq(body, "\n") {
			if v, ok := strings.CutPrefix(l, "lineage_eventlog_durable_records "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n > float64(last+100)
			}
		}
		return false
	})
	if info, err := st.Info(t.Context()); err != nil || info.State.LastSeq != last+1 {
		t.Errorf("the diverged stream: %+v, %v; want it left at %d", info.State, err, last+1)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}
}

// waitUntil polls ok every 10 ms until it holds, failing after 30 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		<-tick.C // polling the real signal, with a deadline
	}
}

// TestServeRefusesABadNATSURL: a --nats-url that is no NATS URL is a usage
// error found before the data dir is touched.
func TestServeRefusesABadNATSURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:4222", "127.0.0.1:4222", "nats://"} {
		dir := filepath.Join(t.TempDir(), "d")
		r := runCmd(t, nil, "serve", "--data-dir", dir, "--nats-url", u, "--ws-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
		if r.code != 2 {
			t.Errorf("--nats-url %q: exit %d, stderr %q; want 2", u, r.code, r.stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("--nats-url %q: the data dir was created", u)
		}
	}
}
