package cli

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

// knownSnapshot is the state after knownEvents(1): two prices, three agents.
func knownSnapshot() *arena.Snapshot {
	return &arena.Snapshot{Time: wt0, Marks: []arena.MarketEvent{
		{Symbol: "BTC-USD", Price: market.PriceFromFloat(45150.32), ChangePercent: 0.45},
		{Symbol: "ETH-USD", Price: market.PriceFromFloat(2499.5), ChangePercent: -0.12},
	}, Agents: []arena.AgentState{
		{ID: "Balanced", Capital: market.MoneyFromFloat(115000.5), WinRate: 0.62, Status: arena.StatusActive},
		{ID: "Conservative", Capital: market.MoneyFromFloat(99500), WinRate: 0.5, Status: arena.StatusResting},
		{ID: "Momentum", Capital: market.MoneyFromFloat(45000), WinRate: 0.3, Status: arena.StatusDeceased},
	}}
}

// startHubWithState is a hub whose clients join after knownEvents(1),
// with knownSnapshot as the state.
func startHubWithState(t *testing.T) (*hub.Hub, *url.URL) {
	t.Helper()
	h, u := startHub(t)
	h.Publish(knownEvents(1), knownSnapshot())
	h.Flush()
	return h, u
}

// watchCmd runs lineage watch in-process in the background, its output
// in out, its exit code on the channel.
func watchCmd(t *testing.T, env map[string]string, args ...string) (out, errs *logWatcher, exited chan int) {
	t.Helper()
	out, errs, exited = newLogWatcher(), newLogWatcher(), make(chan int, 1)
	e := &cmdEnv{Stdout: out, Stderr: errs, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go func() { exited <- run(ctx, e, append([]string{"watch"}, args...)) }()
	return out, errs, exited
}

// exitWithin waits for a watch started by watchCmd to exit by itself.
func exitWithin(t *testing.T, exited chan int, errs, out *logWatcher) int {
	t.Helper()
	select {
	case code := <-exited:
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("watch did not stop; stdout:\n%s\nstderr:\n%s", out, errs)
		return 0
	}
}

// LINEAGE_AGENTS is the number of agents serve and arena found; watch does
// not take it as a filter.
func TestWatchIgnoresTheAgentsCountTwin(t *testing.T) {
	h, u := startHub(t)
	env := map[string]string{"LINEAGE_AGENTS": "30"}
	out, errs, exited := watchCmd(t, env, "--json", "--events", "agent", "-n", "5", u.String())
	waitOutput(t, out, `"subscribed"`, exited)
	h.Publish(knownEvents(1), nil)
	if code := exitWithin(t, exited, errs, out); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, agent := range []string{"Balanced", "Conservative", "Momentum"} {
		if !strings.Contains(out.String(), `"agent_id":"`+agent+`"`) {
			t.Errorf("no state of %s with LINEAGE_AGENTS=30:\n%s", agent, out)
		}
	}

	// Its own scoped twin is a filter.
	env = map[string]string{"LINEAGE_AGENTS": "30", "LINEAGE_WATCH_AGENTS": "Balanced"}
	out, errs, exited = watchCmd(t, env, "--json", "--events", "agent", "-n", "3", u.String())
	waitOutput(t, out, `"subscribed"`, exited)
	h.Publish(knownEvents(11), nil)
	if code := exitWithin(t, exited, errs, out); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := out.String(); !strings.Contains(got, `"agent_id":"Balanced"`) || strings.Contains(got, "Conservative") {
		t.Errorf("LINEAGE_WATCH_AGENTS=Balanced:\n%s", got)
	}
}

// Every snapshot message is printed, in v2 as in v1, raw or as rows; then
// the live stream.
func TestWatchPrintsTheWholeSnapshot(t *testing.T) {
	want := []string{"BTC-USD", "ETH-USD", "Balanced", "Conservative", "Momentum"}
	for _, schema := range []string{"v1", "v2"} {
		t.Run(schema+" json", func(t *testing.T) {
			_, u := startHubWithState(t)
			q := u.Query()
			q.Set("schema", schema)
			u.RawQuery = q.Encode()
			out, errs, exited := watchCmd(t, nil, u.String(), "--json", "-n", "6")
			if code := exitWithin(t, exited, errs, out); code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 6 || !strings.Contains(lines[0], `"welcome"`) {
				t.Fatalf("want the welcome and 5 snapshot messages:\n%s", out)
			}
			for i, w := range want {
				if !strings.Contains(lines[i+1], `"`+w+`"`) {
					t.Errorf("line %d %s, want %s", i+2, lines[i+1], w)
				}
			}
		})
		t.Run(schema+" table", func(t *testing.T) {
			h, u := startHubWithState(t)
			u.RawQuery = "schema=" + schema
			out, errs, exited := watchCmd(t, nil, u.String())
			waitOutput(t, out, "Momentum", exited)
			h.Publish(knownEvents(11), nil)
			waitOutput(t, out, "ROUND 12", exited)
			got := out.String()
			if !strings.Contains(got, "SCAR                   Momentum     severity 2") || !strings.Contains(got, "ROUND 12               Balanced") {
				t.Errorf("scar and round rows:\n%s", got)
			}
			for _, w := range want {
				if n := strings.Count(got, w); n < 2 {
					t.Errorf("%s appears %d times, want in the snapshot and live:\n%s", w, n, got)
				}
			}
			if errs.String() != "" {
				t.Errorf("stderr: %s", errs)
			}
		})
	}
}

// Filters apply to the snapshot too, which the server may send before it
// has the subscription.
func TestWatchFiltersTheSnapshot(t *testing.T) {
	_, u := startHubWithState(t)
	out, errs, exited := watchCmd(t, nil, u.String(), "--symbols", "eth-usd", "--agents", "Balanced", "-n", "3")
	if code := exitWithin(t, exited, errs, out); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := out.String()
	if !strings.Contains(got, "ETH-USD") || !strings.Contains(got, "Balanced") {
		t.Errorf("want ETH-USD and Balanced:\n%s", got)
	}
	for _, not := range []string{"BTC-USD", "Conservative", "Momentum"} {
		if strings.Contains(got, not) {
			t.Errorf("%s printed despite the filters:\n%s", not, got)
		}
	}
}

func TestWatchStopsOnARefusedSubscription(t *testing.T) {
	_, u := startHubWithState(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--events", "nosuch"}, `unknown event type "nosuch"`},
		{[]string{"--symbols", "FOO"}, `"FOO"`},
	} {
		t.Run(tt.want, func(t *testing.T) {
			out, errs, exited := watchCmd(t, nil, append(tt.args, u.String())...)
			code := exitWithin(t, exited, errs, out)
			e := errs.String()
			if code != 2 || strings.Count(e, "\n") != 1 || !strings.Contains(e, "the server refused the subscription: ") || !strings.Contains(e, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with the server's reason %s", code, e, tt.want)
			}
			if strings.Contains(out.String(), "MARKET") {
				t.Errorf("printed unfiltered rows:\n%s", out)
			}
		})
	}
}

func TestWatchSaysAPlainHTTPServerIsNotAWebSocketServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello") }))
	defer srv.Close()
	r := runCmd(t, nil, "watch", "ws"+strings.TrimPrefix(srv.URL, "http"))
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "not a WebSocket server") || !strings.Contains(r.stderr, "200 OK") {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line saying not a WebSocket server (200 OK)", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("printed %q before connecting", r.stdout)
	}
}

func TestWatchTakesFlagsAfterTheURL(t *testing.T) {
	_, u := startHub(t)
	r := runCmd(t, nil, "watch", u.String(), "--json", "-n", "1")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `{"type":"welcome"`) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q; want the welcome, raw", r.code, r.stdout, r.stderr)
	}
}
