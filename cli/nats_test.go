package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
	for seq := uint64(1); seq <= want; seq++ {
		select {
		case m := <-msgs:
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
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
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
