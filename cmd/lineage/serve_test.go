package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
)

// signalWriter collects output and closes seen once it contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestServeRunsRoundsAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &signalWriter{want: "msg=round", seen: make(chan struct{})}
	env := &Env{Stdout: &bytes.Buffer{}, Stderr: logs, Getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, env, []string{"serve", "--seed", "5", "--tick-interval", "1ms", "--round-ticks", "25"})
	}()
	select {
	case <-logs.seen:
	case code := <-done:
		t.Fatalf("serve exited %d before a round:\n%s", code, logs.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d after SIGINT-like cancel:\n%s", code, logs.String())
	}
	out := logs.String()
	for _, want := range []string{"msg=\"arena started\"", "seed=5", "winner=", "msg=\"shutting down\"", "ledger_hash="} {
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
