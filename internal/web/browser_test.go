package web_test

// The dashboard in Chromium: the tests. The server they run against and
// the browser harness are in browser_harness_test.go.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/lineage-arena/lineage/arena"
)

func TestDashboardInChromium(t *testing.T) {
	var blog browserLog
	ctx := newBrowser(t, &blog)

	e := newEngine(t)
	e.steps(3200) // a run with a history: trades, scars, rounds, births and deaths
	e.serve("")
	addr := e.srv.Listener.Addr().String()
	base := "http://" + addr
	e.run()
	running := true
	defer func() {
		if running {
			e.pause()
		}
		e.shutdown()
	}()

	// Before the page's own scripts run, watch for any element that markup
	// from a server string could have made.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchInjections}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 10*time.Second, "the page says connected",
		`document.getElementById('conn').dataset.state === 'connected' && document.getElementById('conn').textContent === 'connected'`)
	waitFor(t, ctx, 10*time.Second, "a card per symbol", `document.querySelectorAll('#cards .card .price').length === 5`)
	prices := eval[string](t, ctx, `Array.from(document.querySelectorAll('#cards .card .price')).map(e => e.textContent).join('|')`)
	waitFor(t, ctx, 10*time.Second, "live prices",
		fmt.Sprintf(`Array.from(document.querySelectorAll('#cards .card .price')).map(e => e.textContent).join('|') !== %q`, prices))
	blog.check(t, "load")

	// Run until every living agent has sent its own state since the page
	// loaded (one every 10 ticks), so trades count live from there.
	start := eval[string](t, ctx, `document.getElementById('app').dataset.seq`)
	waitFor(t, ctx, 20*time.Second, "a few hundred events",
		fmt.Sprintf(`Number(document.getElementById('app').dataset.seq) >= %s + 400`, start))

	// The XSS strings are text: their characters are on the page where
	// they belong, and no element or dialog came of them.
	if got := eval[string](t, ctx, `document.querySelector('#agents tr[data-agent=Mallory] [data-col=strategy]').textContent`); got != xss {
		t.Errorf("Mallory's strategy shows as %q, want the characters %q", got, xss)
	}
	if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('#cards .card[data-symbol=%q] .src').textContent`, xssSymbol)); got != xssSource {
		t.Errorf("the source of %s shows as %q, want the characters %q", xssSymbol, got, xssSource)
	}
	checkInjections(t, ctx)

	// Sorting by a header.
	eval[chromedp.Void](t, ctx, `document.querySelector('#agents th[data-key=trades]').click()`)
	waitFor(t, ctx, 5*time.Second, "the table sorted by trades", `(() => {
		const v = Array.from(document.querySelectorAll('#agents tbody [data-col=trades]')).map(e => Number(e.textContent));
		return v.length > 1 && v.every((x, i) => i === 0 || v[i-1] >= x) &&
			document.querySelector('#agents th[data-key=trades]').getAttribute('aria-sort') === 'descending';
	})()`)

	e.pause()
	running = false
	waitFor(t, ctx, 10*time.Second, "the page has every event", fmt.Sprintf(`document.getElementById('app').dataset.seq === '%d'`, e.lastSeq()))
	compareTable(t, ctx, base, "before the restart")

	// A restart: the server goes away (1001), the arena moves on, a new
	// server on the same address takes over from the stored events. The
	// page must resume without a reload and count nothing twice.
	blog.expectRestart(true)
	e.shutdown()
	waitFor(t, ctx, 10*time.Second, "the page notices", `document.getElementById('conn').dataset.state !== 'connected'`)
	e.steps(100) // events the page has not seen
	e.serve(addr)
	e.run()
	running = true
	waitFor(t, ctx, 20*time.Second, "the page reconnects", `document.getElementById('conn').dataset.state === 'connected'`)
	blog.expectRestart(false)
	// The page asked for what it had not applied, not for a fresh state.
	if urls := blog.socketURLs(); len(urls) < 2 || strings.Contains(urls[0], "since=") || !strings.Contains(urls[len(urls)-1], "since=") {
		t.Errorf("the page opened WebSockets at %q: want a first without since= and a resume with it", urls)
	}
	after := e.lastSeq()
	waitFor(t, ctx, 20*time.Second, "events after the restart",
		fmt.Sprintf(`Number(document.getElementById('app').dataset.seq) >= %d`, after+200))

	shots := artifacts(t)
	within(t, ctx, 10*time.Second, "desktop viewport", chromedp.EmulateViewport(1280, 800))
	waitFor(t, ctx, 5*time.Second, "no horizontal scroll at 1280x800",
		`document.documentElement.scrollWidth <= window.innerWidth`)
	png := within(t, ctx, 10*time.Second, "screenshot", chromedp.CaptureScreenshot())
	writeShot(t, filepath.Join(shots, "dashboard-1280x800.png"), png)
	if p := os.Getenv("LINEAGE_DASHBOARD_PNG"); p != "" {
		writeShot(t, p, png) // the README's picture: go test -run Chromium with it set
	}
	full := within(t, ctx, 10*time.Second, "full-page screenshot", chromedp.FullScreenshot(100))
	writeShot(t, filepath.Join(shots, "dashboard-full.png"), full)

	e.pause()
	running = false
	waitFor(t, ctx, 10*time.Second, "the page has every event after the restart",
		fmt.Sprintf(`document.getElementById('app').dataset.seq === '%d'`, e.lastSeq()))
	compareTable(t, ctx, base, "after the restart")
	if dup := eval[int](t, ctx, `(() => {
		const s = Array.from(document.querySelectorAll('#feed li[data-seq]')).map(li => li.dataset.seq);
		return s.length - new Set(s).size;
	})()`); dup != 0 {
		t.Errorf("the feed shows %d events twice", dup)
	}
	checkInjections(t, ctx)
	blog.check(t, "after the restart")

	// A new run on the same address (a new data dir): its history ends
	// before what the page has applied, the server says "ahead", and the
	// page must start over from the new run's state.
	blog.expectRestart(true)
	e.shutdown()
	fresh := newEngine(t)
	fresh.steps(3200)
	if fresh.lastSeq() >= e.lastSeq() {
		t.Fatalf("the new run is at %d, not behind the page's %d", fresh.lastSeq(), e.lastSeq())
	}
	fresh.serve(addr)
	defer fresh.shutdown()
	waitFor(t, ctx, 20*time.Second, "the page takes the new run", fmt.Sprintf(
		`document.getElementById('conn').dataset.state === 'connected' && document.getElementById('app').dataset.seq === '%d'`, fresh.lastSeq()))
	blog.expectRestart(false)
	compareTable(t, ctx, base, "after a new run")
	if !eval[bool](t, ctx, `Array.from(document.querySelectorAll('#feed li.note')).some(li => li.textContent.includes('starting over'))`) {
		t.Errorf("the page did not say it started over")
	}
	blog.check(t, "after a new run")

	// Phone width: one column, nothing wider than the screen.
	within(t, ctx, 10*time.Second, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	waitFor(t, ctx, 5*time.Second, "no horizontal scroll at phone width",
		`document.documentElement.scrollWidth <= window.innerWidth + 1`)
	png = within(t, ctx, 10*time.Second, "phone screenshot", chromedp.CaptureScreenshot())
	writeShot(t, filepath.Join(shots, "dashboard-390x844.png"), png)
	blog.check(t, "at phone width")
}

// watchInjections runs in the page before its scripts (DevTools scripts
// are not subject to the CSP) and records every element the page gains
// that could run code or load something: what innerHTML with a server
// string would make.
const watchInjections = `window.__injected = [];
new MutationObserver((records) => {
	for (const r of records) {
		for (const n of r.addedNodes) {
			if (n.nodeType !== 1) continue;
			for (const e of [n, ...n.querySelectorAll('*')]) {
				if (e.closest('head')) continue; // the page's own scripts and styles
				const tag = e.tagName.toLowerCase();
				if (['img', 'script', 'iframe', 'object', 'embed', 'svg', 'style', 'link'].includes(tag) ||
					Array.from(e.attributes).some((a) => a.name.startsWith('on'))) {
					window.__injected.push(e.outerHTML.slice(0, 120));
				}
			}
		}
	}
}).observe(document, {childList: true, subtree: true});`

func checkInjections(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, html := range eval[[]string](t, ctx, `window.__injected.splice(0)`) {
		t.Errorf("the page gained an element that runs code or loads something: %s", html)
	}
}

func writeShot(t *testing.T, path string, png []byte) {
	t.Helper()
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d KB)", path, len(png)>>10)
}

// A server started with --token: the page loads without it, but its data
// needs it. Opened with the token (#token=, or ?token=) the page passes it
// on its WebSocket and its API requests and works; opened without it, or
// with a wrong one, it gets no data and says a token is required.
func TestDashboardWithToken(t *testing.T) {
	const token = "dashboard-s3cret"
	var blog browserLog
	ctx := newBrowser(t, &blog)

	e := newEngine(t)
	e.steps(3200) // deaths, so the graveyard (an API call) has rows
	e.serveWithToken("", token)
	base := "http://" + e.srv.Listener.Addr().String()
	e.run()
	defer func() {
		e.pause()
		e.shutdown()
	}()
	open := func(url string) {
		t.Helper()
		// By way of a blank page: a change of fragment alone would not
		// load the page again.
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
	}

	// Without the token, and with a wrong one: no data, and the page says
	// why. The refused requests are expected network errors.
	blog.expectRestart(true)
	for _, tt := range []struct{ url, says string }{
		{base + "/", "the server requires a token"},
		{base + "/#token=nope", "the server refused this page's token"},
	} {
		open(tt.url)
		waitFor(t, ctx, 10*time.Second, tt.url+": the page says a token is needed", fmt.Sprintf(
			`Array.from(document.querySelectorAll('#feed li.note')).some(li => li.textContent.includes(%q))`, tt.says))
		if got := eval[string](t, ctx, `document.getElementById('conn').dataset.state + ' ' + document.querySelectorAll('#agents tbody tr').length + ' ' + document.getElementById('app').dataset.seq`); got != "reconnecting 0 " {
			t.Errorf("%s: state, agents and sequence %q: want no data and no connection", tt.url, got)
		}
	}
	blog.expectRestart(false)
	blog.check(t, "without the token")

	// With the token, in the fragment and in the query.
	snap := e.snap.Load()
	dead := 0
	for _, a := range snap.Agents {
		if a.Status == arena.StatusDeceased {
			dead++
		}
	}
	if dead == 0 {
		t.Fatal("no agent has died: the graveyard, read from the API, goes untested")
	}
	for _, url := range []string{base + "/#token=" + token, base + "/?token=" + token} {
		before := len(blog.socketURLs())
		open(url)
		waitFor(t, ctx, 10*time.Second, url+": the page says connected",
			`document.getElementById('conn').dataset.state === 'connected'`)
		start := eval[string](t, ctx, `document.getElementById('app').dataset.seq`)
		waitFor(t, ctx, 20*time.Second, url+": live events", fmt.Sprintf(`Number(document.getElementById('app').dataset.seq) >= %s + 100`, start))
		// The graveyard and the leaderboard's round winners come from the
		// API only: they show, so the API answered the page.
		waitFor(t, ctx, 10*time.Second, url+": tombstones from /api/graveyard",
			fmt.Sprintf(`document.querySelectorAll('#graveyard tbody tr').length >= %d`, dead))
		if urls := blog.socketURLs()[before:]; len(urls) == 0 || !strings.Contains(urls[0], "token="+token) {
			t.Errorf("%s: the page opened WebSockets at %q, want the token on them", url, urls)
		}
		if eval[bool](t, ctx, `Array.from(document.querySelectorAll('#feed li.note')).some(li => li.textContent.includes('token'))`) {
			t.Errorf("%s: the page says a token is needed while it has it", url)
		}
		blog.check(t, url)
	}
}
