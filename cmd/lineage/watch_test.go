package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/market"
)

var update = flag.Bool("update", false, "rewrite golden files")

var wt0 = time.Date(2026, 2, 3, 14, 30, 45, 123_000_000, time.UTC)

// knownEvents is a fixed story: prices up and down, agent states, a trade,
// a scar, a death, a birth and a round.
func knownEvents(first uint64) []arena.Event {
	at := func(i int) time.Time { return wt0.Add(time.Duration(i) * 10 * time.Second) }
	evs := []arena.Event{
		{Type: arena.EventMarket, Market: &arena.MarketEvent{Symbol: "BTC-USD", Price: market.PriceFromFloat(45150.32), ChangePercent: 0.45}},
		{Type: arena.EventMarket, Market: &arena.MarketEvent{Symbol: "ETH-USD", Price: market.PriceFromFloat(2499.5), ChangePercent: -0.12}},
		{Type: arena.EventAgent, Agent: &arena.AgentState{ID: "Balanced", Capital: market.MoneyFromFloat(115000.5), WinRate: 0.62, Status: arena.StatusActive}},
		{Type: arena.EventAgent, Agent: &arena.AgentState{ID: "Conservative", Capital: market.MoneyFromFloat(99500), WinRate: 0.5, Status: arena.StatusResting}},
		{Type: arena.EventTrade, Trade: &arena.TradeEvent{Agent: "Momentum", Symbol: "ETH-USD", Action: "close", Side: arena.Long, Qty: 100_000_000, Price: market.PriceFromFloat(2501.25), NetPnL: market.MoneyFromFloat(-12.5), Reason: "signal"}},
		{Type: arena.EventScar, Scar: &arena.ScarEvent{Agent: "Momentum", Scar: arena.Scar{Kind: arena.ScarLoss, Severity: 2}, Total: 3}},
		{Type: arena.EventDeath, Death: &arena.DeathEvent{Agent: "Momentum", Cause: arena.CauseScars, Equity: market.MoneyFromFloat(45000)}},
		{Type: arena.EventSpawn, Spawn: &arena.SpawnEvent{Parent: "Balanced", Child: "Balanced.1", Endowment: market.MoneyFromFloat(28750)}},
		{Type: arena.EventRound, Round: &arena.RoundResult{Number: 12, Winner: "Balanced", WinnerReturn: 0.0123}},
		{Type: arena.EventAgent, Agent: &arena.AgentState{ID: "Momentum", Capital: market.MoneyFromFloat(45000), WinRate: 0.3, Status: arena.StatusDeceased}},
	}
	for i := range evs {
		evs[i].Seq = first + uint64(i)
		evs[i].Time = at(i)
	}
	return evs
}

func startHub(t *testing.T) (*hub.Hub, *url.URL) {
	t.Helper()
	h := hub.New(hub.Config{})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close(5 * time.Second)
		srv.Close()
	})
	u, _ := url.Parse("ws" + strings.TrimPrefix(srv.URL, "http") + "/ws")
	return h, u
}

// runWatcher runs watch in the background with opts on u.
func runWatcher(t *testing.T, o watchOpts, p *printer) (context.CancelFunc, chan error) {
	t.Helper()
	if o.heartbeat == 0 {
		o.heartbeat, o.silence = watchHeartbeat, watchSilence
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- watch(ctx, o, p) }()
	t.Cleanup(cancel)
	return cancel, done
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestWatchPrintsTheTable(t *testing.T) {
	for _, tt := range []struct {
		name  string
		emoji bool
	}{{"watch_plain.golden", false}, {"watch_terminal.golden", true}} {
		t.Run(tt.name, func(t *testing.T) {
			h, u := startHub(t)
			out := newLogWatcher()
			_, done := runWatcher(t, watchOpts{url: u, n: 11}, &printer{w: out, emoji: tt.emoji})
			waitOutput(t, out, "Welcome", done)
			h.Publish(knownEvents(1), nil)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// The client id varies with nothing here, but keep the test honest
			// about what it compares: the whole table.
			golden(t, tt.name, out.String())
		})
	}
}

func TestWatchJSONAndFilters(t *testing.T) {
	h, u := startHub(t)
	out := newLogWatcher()
	_, done := runWatcher(t, watchOpts{url: u, json: true, events: []string{"death", "spawn"}, n: 4}, &printer{w: out})
	waitOutput(t, out, `"subscribed"`, done)
	h.Publish(knownEvents(1), nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], `"welcome"`) || !strings.Contains(lines[1], `"subscribed"`) ||
		!strings.Contains(lines[2], `"event_type":"death"`) || !strings.Contains(lines[3], `"event_type":"spawn"`) {
		t.Errorf("json lines with death and spawn only:\n%s", out)
	}
}

// scripted is a misbehaving server: each connection runs the next script.
type scripted struct {
	up      *gws.Upgrader
	conns   atomic.Int32
	queries chan string
	scripts []func(c *gws.Conn)
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.conns.Add(1)) - 1
	s.queries <- r.URL.RawQuery
	c, err := s.up.Upgrade(w, r)
	if err != nil || i >= len(s.scripts) {
		return
	}
	go c.ReadLoop()
	s.scripts[i](c)
}

func sendAll(c *gws.Conn, msgs ...string) {
	for _, m := range msgs {
		c.WriteString(m)
	}
}

func ev(seq int) string {
	return fmt.Sprintf(`{"event_type":"market","market":{"symbol":"BTC-USD","price":%d,"timestamp":"2026-02-03T14:30:45Z","change_percent":1},"agent":null,"sequence":%d}`, 45000+seq, seq)
}

// noPong answers no pings: a server that hangs.
type noPong struct{ gws.BuiltinEventHandler }

func (noPong) OnPing(*gws.Conn, []byte) {}

func TestWatchSurvivesAMisbehavingServer(t *testing.T) {
	welcome := `{"type":"welcome","client_id":1,"timestamp":"2026-02-03T14:30:45Z","message":"hi","sequence":0}`
	s := &scripted{queries: make(chan string, 10), up: gws.NewUpgrader(noPong{}, nil)}
	s.scripts = []func(*gws.Conn){
		func(c *gws.Conn) { // garbage, five events, then the line drops
			sendAll(c, welcome, "this is not JSON", `{"foo":1}`, ev(1), ev(2), ev(3), ev(4), ev(5))
			c.NetConn().Close()
		},
		func(c *gws.Conn) { // resumes, repeats 5, then closes with a reason
			sendAll(c, welcome, ev(5), ev(6), ev(7))
			c.WriteClose(1008, []byte("too slow: test"))
		},
		func(c *gws.Conn) { // one event, then silence
			sendAll(c, welcome, ev(8))
		},
		func(c *gws.Conn) { sendAll(c, welcome, ev(9)) },
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	u, _ := url.Parse("ws" + strings.TrimPrefix(srv.URL, "http"))
	out := newLogWatcher()
	cancel, done := runWatcher(t, watchOpts{url: u, heartbeat: time.Hour, silence: 300 * time.Millisecond}, &printer{w: out})
	waitOutput(t, out, "$45009.00", done)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for seq := 1; seq <= 9; seq++ {
		if n := strings.Count(got, fmt.Sprintf("$%d.00", 45000+seq)); n != 1 {
			t.Errorf("event %d printed %d times:\n%s", seq, n, got)
		}
	}
	for _, want := range []string{
		"not a Lineage message", "connection dropped", "(1008: too slow: test)", "went silent",
		"resuming after sequence 5", "resuming after sequence 7", "resuming after sequence 8",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "Welcome"); n != 1 {
		t.Errorf("%d welcome lines, want 1 across reconnects", n)
	}
	var qs []string
	for range 4 {
		qs = append(qs, <-s.queries)
	}
	if qs[0] != "" || qs[1] != "since=5" || qs[2] != "since=7" || qs[3] != "since=8" {
		t.Errorf("connection queries %q", qs)
	}
}
