package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/market"
)

var t0 = time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC)

// The program follows a test hub: the snapshot, then live events, one
// line each, and stops after -n.
func TestFollow(t *testing.T) {
	h := hub.New(hub.Config{Token: "s3cret"})
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(time.Second); srv.Close() })
	h.Publish([]arena.Event{{Seq: 1, Time: t0, Type: arena.EventMarket, Market: &arena.MarketEvent{Symbol: "BTC-USD", Price: market.PriceFromFloat(45000)}}},
		&arena.Snapshot{Time: t0, Marks: []arena.MarketEvent{{Symbol: "BTC-USD", Price: market.PriceFromFloat(45000)}},
			Agents: []arena.AgentState{{ID: "Balanced", Capital: market.MoneyFromFloat(100000), Status: arena.StatusResting}}})
	h.Flush()

	out, errs := newLines(), newLines()
	done := make(chan error, 1)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	go func() { done <- run(t.Context(), []string{"-n", "4", url}, "s3cret", out, errs) }()
	// Live events once the program is in: it printed the snapshot.
	out.waitFor(t, 2, done)
	h.Publish([]arena.Event{
		{Seq: 2, Time: t0, Type: arena.EventTrade, Trade: &arena.TradeEvent{Agent: "Balanced", Symbol: "BTC-USD", Action: "open", Side: arena.Long, Price: market.PriceFromFloat(45010)}},
		{Seq: 3, Time: t0, Type: arena.EventMarket, Market: &arena.MarketEvent{Symbol: "BTC-USD", Price: market.PriceFromFloat(45020)}},
	}, nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v (stderr %s)", err, errs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not stop after -n 4")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"1 market BTC-USD 45000.00 (snapshot)",
		"1 agent Balanced 100000.00 resting (snapshot)",
		`2 trade {"agent_id":"Balanced"`,
		"3 market BTC-USD 45020.00",
	}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s\nwant %d lines", out, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d %q, want %q", i+1, lines[i], want[i])
		}
	}
}

// lines is an output that a test can wait on.
type lines struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLines() *lines { return &lines{changed: make(chan struct{}, 1)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until n lines are written, or the program ends.
func (l *lines) waitFor(t *testing.T, n int, done chan error) {
	t.Helper()
	for strings.Count(l.String(), "\n") < n {
		select {
		case <-l.changed:
		case err := <-done:
			t.Fatalf("the program ended (%v) with:\n%s", err, l)
		case <-time.After(10 * time.Second):
			t.Fatalf("waited for %d lines:\n%s", n, l)
		}
	}
}

func TestFollowUsageAndErrors(t *testing.T) {
	var out, errs bytes.Buffer
	if err := run(t.Context(), []string{"a", "b"}, "", &out, &errs); exitCode(err) != 2 {
		t.Errorf("two URLs: %v, want a usage error", err)
	}
	if err := run(t.Context(), []string{"ws://127.0.0.1:1"}, "", &out, &errs); exitCode(err) != 1 {
		t.Errorf("nothing listening: %v, want exit 1", err)
	}
}
