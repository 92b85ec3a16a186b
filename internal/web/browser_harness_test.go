package web_test

// The dashboard in a real browser: Debian's headless Chromium, driven with
// chromedp, against a real server composed here the way `lineage serve`
// composes it — an arena on a simulated feed, a hub publishing its events,
// a snapshot pointer, web.Handler — on an httptest server stepped by a
// goroutine the test owns.
//
// The XSS payload travels in real server strings: the name of a strategy
// (StrategySpec.Name is free text; agent ids are not, see arena's name
// rule) that shows in the agents table, and the source of one symbol's
// ticks (market.Tick.Source), shown on its card.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/internal/web"
	"github.com/lineage-arena/lineage/market"
)

const (
	chromiumPath = "/usr/bin/chromium"
	xss          = `<img src=x onerror=alert(1)>`
	xssSource    = `sim<script>alert(2)</script>`
	xssSymbol    = "DOT-USD"
	tickEvery    = 50 * time.Millisecond // 20 ticks a second
)

// engine is a small `lineage serve`: an arena stepped on a goroutine it
// owns, every step's events published to the current hub after the
// snapshot is stored, and every event kept for resumes.
type engine struct {
	t       *testing.T
	ar      *arena.Arena
	src     *feed.Sim
	pending []arena.Event // the step's events; touched only by the stepper
	snap    atomic.Pointer[arena.Snapshot]

	mu     sync.Mutex
	events []arena.Event // every event published, seq 1..n
	hub    *hub.Hub      // nil while the server is down

	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	e := &engine{t: t, src: feed.NewSim(feed.SimConfig{Seed: 7})}
	mallory := arena.Builtin()[0]
	mallory.Name = xss
	// About fifty agents, with rules harsh enough that some scar, die and
	// breed within the first few thousand ticks.
	roster := append(arena.GenerateRoster(48, 7), arena.Founder{Name: "Mallory", Strategy: xss})
	ar, err := arena.New(arena.Config{
		Symbols: e.src.Symbols(), Seed: 7, RoundTicks: 250, AgentEvery: 10, Workers: 1,
		DeathDrawdown: market.Percent(8), ScarDrawdown: market.Percent(1), ScarLoss: market.Percent(1),
		Strategies: []arena.StrategySpec{mallory},
	}, roster, arena.SinkFunc(func(ev arena.Event) error {
		e.pending = append(e.pending, ev)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	e.ar = ar
	t.Cleanup(func() { ar.Close() })
	return e
}

// step takes one tick and publishes its events.
func (e *engine) step() error {
	tk, err := e.src.Next(context.Background())
	if err != nil {
		return err
	}
	if tk.Symbol == xssSymbol {
		tk.Source = xssSource
	}
	if err := e.ar.Step(tk); err != nil {
		return err
	}
	snap := e.ar.Snapshot()
	e.snap.Store(snap)
	evs := e.pending
	e.pending = nil
	e.mu.Lock()
	e.events = append(e.events, evs...)
	h := e.hub
	e.mu.Unlock()
	if h != nil {
		h.Publish(evs, snap)
	}
	return nil
}

func (e *engine) steps(n int) {
	e.t.Helper()
	for range n {
		if err := e.step(); err != nil {
			e.t.Fatal(err)
		}
	}
}

// run steps every tickEvery until pause.
func (e *engine) run() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() {
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				e.done <- nil
				return
			case <-t.C:
				if err := e.step(); err != nil {
					e.done <- err
					return
				}
			}
		}
	}()
}

func (e *engine) pause() {
	e.t.Helper()
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Fatal(err)
	}
}

func (e *engine) lastSeq() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return uint64(len(e.events))
}

// Oldest and Replay make the engine the hub's History.
func (e *engine) Oldest() uint64 { return 1 }

func (e *engine) Replay(from, until uint64, fn func(arena.Event) error) error {
	e.mu.Lock()
	evs := e.events
	e.mu.Unlock()
	for i := max(from, 1); i < until && i <= uint64(len(evs)); i++ {
		if err := fn(evs[i-1]); err != nil {
			return err
		}
	}
	return nil
}

func (e *engine) sources() web.Sources {
	return web.Sources{
		Snapshot: e.snap.Load,
		Graveyard: func() (any, error) {
			dead := []map[string]any{}
			if s := e.snap.Load(); s != nil {
				for _, a := range s.Agents {
					if d := a.Death; d != nil {
						dead = append(dead, map[string]any{
							"agent_id": a.ID, "strategy": a.Strategy, "cause": d.Cause, "final_capital": d.Equity,
							"scars": a.ScarLog, "trades": d.Trades, "lifespan_ticks": d.Lifespan,
						})
					}
				}
			}
			return dead, nil
		},
		Events: func(since uint64, limit int) ([]json.RawMessage, error) {
			var out []json.RawMessage
			err := e.Replay(since+1, since+1+uint64(limit), func(ev arena.Event) error {
				b, err := json.Marshal(ev)
				out = append(out, b)
				return err
			})
			return out, err
		},
	}
}

// serve starts a hub and an HTTP server on addr ("" for any port) that
// take over from the events published so far.
func (e *engine) serve(addr string) { e.serveWithToken(addr, "") }

// serveWithToken is serve for a server started with --token: the hub and
// the API both require it.
func (e *engine) serveWithToken(addr, token string) {
	e.t.Helper()
	h := hub.New(hub.Config{History: e, Token: token})
	h.SetLastSeq(e.lastSeq(), e.snap.Load())
	src := e.sources()
	src.Token = token
	handler := web.Handler(src, h)
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = listen(e.t, addr)
	srv.Start()
	e.mu.Lock()
	e.hub, e.srv = h, srv
	e.mu.Unlock()
}

// shutdown stops the server as `lineage serve` does: 1001 to every
// client, then the HTTP server.
func (e *engine) shutdown() {
	e.mu.Lock()
	h, srv := e.hub, e.srv
	e.hub, e.srv = nil, nil
	e.mu.Unlock()
	if h != nil {
		h.Close(2 * time.Second)
		srv.Close()
	}
}

// listen listens on addr. A server just closed on the same address leaves
// no listener behind (httptest.Server.Close closes it before returning),
// and Go sets SO_REUSEADDR, so its connections in TIME_WAIT do not hold
// the address.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// browserLog collects what the page says that a user would call an error.
type browserLog struct {
	mu       sync.Mutex
	errs     []string
	dialogs  []string
	sockets  []string // URLs of the WebSockets the page opened
	restarts bool     // the server is down: network errors are expected
}

func (b *browserLog) listen(ctx context.Context) func(ev any) {
	return func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.errs = append(b.errs, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.errs = append(b.errs, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		case *log.EventEntryAdded:
			en := ev.Entry
			if en.Level != log.EntryLevelError {
				return
			}
			// A WebSocket or fetch that fails while the server is down is
			// what a restart looks like from the page, not a page error.
			if b.restarts && en.Source == log.EntrySourceNetwork {
				return
			}
			b.errs = append(b.errs, fmt.Sprintf("log (%s): %s %s", en.Source, en.Text, en.URL))
		case *network.EventWebSocketCreated:
			b.sockets = append(b.sockets, ev.URL)
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}
}

func (b *browserLog) check(t *testing.T, when string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		t.Errorf("%s: the page reported an error: %s", when, e)
	}
	for _, d := range b.dialogs {
		t.Errorf("%s: a JavaScript dialog opened (%s): a server string ran as code", when, d)
	}
	b.errs, b.dialogs = nil, nil
}

func (b *browserLog) socketURLs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sockets)
}

func (b *browserLog) expectRestart(on bool) {
	b.mu.Lock()
	b.restarts = on
	b.mu.Unlock()
}

// artifacts is where screenshots go: $LINEAGE_ARTIFACTS, or a temp dir.
func artifacts(t *testing.T) string {
	if d := os.Getenv("LINEAGE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func newBrowser(t *testing.T, b *browserLog) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: .ci/run installs Debian's chromium for the browser tests", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install chromium): skipping the browser test", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	var ctx context.Context
	var cancel context.CancelFunc
	ctx, cancel = chromedp.NewContext(actx, chromedp.WithListener(func(ev any) { b.listen(ctx)(ev) }))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return ctx
}

// within runs an action with a deadline of its own.
func within[T any](t *testing.T, ctx context.Context, d time.Duration, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitFor polls a JavaScript expression until it is truthy.
func waitFor(t *testing.T, ctx context.Context, d time.Duration, what, expr string) {
	t.Helper()
	within(t, ctx, d+time.Second, "waiting until "+what, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return within(t, ctx, 10*time.Second, expr, chromedp.Evaluate[T](expr))
}

type row struct {
	ID     string `json:"agent_id"`
	Trades int    `json:"trades_executed"`
	Status string `json:"status"`
	Parent string `json:"parent"`
}

// tableRows reads the agents table as a person sees it.
const tableRows = `Array.from(document.querySelectorAll('#agents tbody tr')).map(tr => ({
	agent_id: tr.querySelector('[data-col=id]').textContent,
	trades_executed: Number(tr.querySelector('[data-col=trades]').textContent),
	status: tr.querySelector('[data-col=status]').textContent,
}))`

// compareTable checks the page's table against /api/agents, the engine
// paused and every event shown.
func compareTable(t *testing.T, ctx context.Context, base, when string) {
	t.Helper()
	resp, err := http.Get(base + "/api/agents")
	if err != nil {
		t.Fatal(err)
	}
	var api []row
	err = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The page's sequence moves with the welcome, before the snapshot
	// after it is applied: wait for the table to have every agent.
	waitFor(t, ctx, 10*time.Second, when+": the table has every agent",
		fmt.Sprintf(`document.querySelectorAll('#agents tbody tr').length === %d`, len(api)))
	page := eval[[]row](t, ctx, tableRows)
	key := func(r row) string { return r.ID }
	slices.SortFunc(api, func(a, b row) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(page, func(a, b row) int { return strings.Compare(key(a), key(b)) })
	if len(page) != len(api) {
		t.Fatalf("%s: the table has %d agents, /api/agents %d", when, len(page), len(api))
	}
	trades := 0
	for i := range api {
		a, p := api[i], page[i]
		trades += a.Trades
		if a.ID != p.ID || a.Trades != p.Trades || (a.Status == "deceased") != (p.Status == "deceased") {
			t.Errorf("%s: table row %+v, /api/agents %+v", when, p, a)
		}
	}
	if trades == 0 {
		t.Errorf("%s: no agent has traded: the comparison proves little", when)
	}
	dead, children := 0, 0
	for _, a := range api {
		if a.Status == "deceased" {
			dead++
		}
		if a.Parent != "" {
			children++
		}
	}
	if dead == 0 || children == 0 {
		t.Errorf("%s: %d dead and %d children: the graveyard and the tree go untested", when, dead, children)
	}
	waitFor(t, ctx, 10*time.Second, fmt.Sprintf("%d tombstones in the graveyard", dead),
		fmt.Sprintf(`document.querySelectorAll('#graveyard tbody tr').length === %d`, dead))
	if got := eval[int](t, ctx, `document.querySelectorAll('#tree ul ul > li').length`); got != children {
		t.Errorf("%s: the lineage tree shows %d children, /api/agents %d", when, got, children)
	}
}
