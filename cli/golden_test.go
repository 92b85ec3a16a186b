package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// goldenFrames is how many event frames of each schema the golden file
// holds.
const goldenFrames = 600

// The bytes serve sends for a seed do not change: a client resuming from
// sequence 0 gets, in each schema, the welcome and then the run's events,
// the same frames as recorded in testdata/serve_seed7.golden. The engine's
// clock is pinned (one second a call from a fixed start), so the events'
// times are the same each run; the welcome's own time and the sequence it
// announces depend on when the client connects, and are masked.
func TestServeWireBytesUnchanged(t *testing.T) {
	var calls atomic.Int64
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	serveClock = func() time.Time { return start.Add(time.Duration(calls.Add(1)) * time.Second) }
	t.Cleanup(func() { serveClock = nil })

	s := startServer(t, "--data-dir", t.TempDir(), "--seed", "7", "--agents", "40", "--leverage", "50", "--tick-interval", "1ms", "--agent-interval", "1h",
		"--round-ticks", "20")
	s.logs.waitFor(t, "msg=serving", s.exited)
	base := field(t, s.logs.String(), "msg=serving", "websocket")
	var got bytes.Buffer
	for _, schema := range []string{"v1", "v2"} {
		c := wsDialRaw(t, base+"?schema="+schema+"&since=0")
		for i := 0; i <= goldenFrames; i++ {
			got.Write(rawFrame(t, c, i == 0))
			got.WriteByte('\n')
		}
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.logs)
	}
	path := filepath.Join("testdata", "serve_seed7.golden")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		g, w := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(g), len(w)) {
			if !bytes.Equal(g[i], w[i]) {
				t.Fatalf("frame %d differs from %s:\n got %s\nwant %s", i, path, g[i], w[i])
			}
		}
		t.Fatalf("%d frames, the golden file holds %d", len(g), len(w))
	}
}

// rawFrame is the next message's bytes; a welcome has its timestamp and
// sequence masked.
func rawFrame(t *testing.T, c *wsConn, welcome bool) []byte {
	t.Helper()
	var b []byte
	select {
	case b = <-c.raw:
	case err := <-c.closed:
		t.Fatalf("closed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
	if !welcome {
		return b
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["type"] != "welcome" {
		t.Fatalf("first frame %s is not a welcome", b)
	}
	m["timestamp"], m["sequence"] = "masked", "masked"
	out, _ := json.Marshal(m)
	return out
}
