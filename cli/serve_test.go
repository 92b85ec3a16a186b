package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// logWatcher collects a server's log output and lets a test wait for a
// line to appear.
type logWatcher struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // capacity 1: a write happened
}

func newLogWatcher() *logWatcher { return &logWatcher{changed: make(chan struct{}, 1)} }

func (w *logWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *logWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor blocks until the output contains want, or the server exits.
func (w *logWatcher) waitFor(t *testing.T, want string, exited <-chan int) {
	t.Helper()
	waitOutput(t, w, want, exited)
}

// waitOutput blocks until w's output contains want; a value on done first
// (the writer's owner ended) fails the test, and so does a minute of
// nothing, as a backstop for a hung test.
func waitOutput[T any](t *testing.T, w *logWatcher, want string, done <-chan T) {
	t.Helper()
	for !strings.Contains(w.String(), want) {
		select {
		case <-w.changed:
		case v := <-done:
			t.Fatalf("ended (%v) before %q appeared:\n%s", v, want, w.String())
		case <-time.After(time.Minute):
			t.Fatalf("%q never appeared:\n%s", want, w.String())
		}
	}
}

// serveProc is a `lineage serve` running in-process.
type serveProc struct {
	logs   *logWatcher
	cancel context.CancelFunc
	exited chan int
}

func startServer(t *testing.T, args ...string) *serveProc {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &serveProc{logs: newLogWatcher(), cancel: cancel, exited: make(chan int, 1)}
	env := &cmdEnv{Stdout: &bytes.Buffer{}, Stderr: s.logs, Getenv: func(string) string { return "" }}
	for _, flag := range []string{"--ws-addr", "--metrics-addr"} {
		if !slices.Contains(args, flag) {
			args = append(args, flag, "127.0.0.1:0") // any free port
		}
	}
	go func() { s.exited <- run(ctx, env, append([]string{"serve"}, args...)) }()
	t.Cleanup(cancel)
	return s
}

// stop cancels the server as SIGINT would and returns its exit code.
func (s *serveProc) stop() int {
	s.cancel()
	return <-s.exited
}

// field returns the value of key=value in the last line containing msg.
func field(t *testing.T, logs, msg, key string) string {
	t.Helper()
	var line string
	for l := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(l, msg) {
			line = l
		}
	}
	for kv := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s= in the %q line of:\n%s", key, msg, logs)
	return ""
}

func TestServeRunsRoundsAndStopsCleanly(t *testing.T) {
	s := startServer(t, "--data-dir", t.TempDir(), "--seed", "5", "--tick-interval", "1ms", "--round-ticks", "25")
	s.logs.waitFor(t, "msg=round", s.exited)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d after SIGINT-like cancel:\n%s", code, s.logs)
	}
	out := s.logs.String()
	for _, want := range []string{"msg=\"arena founded\"", "seed=5", "dashboard=http://127.0.0.1:", "winner=", "msg=\"shutting down\"", "ledger_hash="} {
		if !strings.Contains(out, want) {
			t.Errorf("serve log lacks %q:\n%s", want, out)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, total: 1000, n: 250}
	p.draw()
	if got := b.String(); got != "\r[#######.......................]  25% 250/1000 ticks" {
		t.Errorf("bar %q", got)
	}
	b.Reset()
	(&progress{w: &b, n: 77}).draw()
	if got := b.String(); got != "\r77 ticks" {
		t.Errorf("unbounded progress %q", got)
	}
	var nilProgress *progress
	nilProgress.done() // no terminal: nothing drawn, nothing to clear
}
