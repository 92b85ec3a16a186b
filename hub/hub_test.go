package hub

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

func TestWelcomeSnapshotAndLiveInOrder(t *testing.T) {
	snap := &arena.Snapshot{
		Time: t0,
		Marks: []arena.MarketEvent{
			{Symbol: "BTC-USD", Price: market.PriceFromFloat(45150.32), ChangePercent: 0.45},
			{Symbol: "ETH-USD"}, // no tick yet: not sent
		},
		Agents: []arena.AgentState{{ID: "Balanced", Capital: market.MoneyFromFloat(115000.5), Trades: 28, WinRate: 0.62, Status: arena.StatusActive}},
	}
	h, srv := newTestHub(t, Config{})
	h.SetLastSeq(1040, snap)
	c := mustDial(t, srv, "")
	w := c.next(t)
	if w["type"] != "welcome" || w["message"] != WelcomeText || seqOf(t, w) != 1040 || w["client_id"] == nil {
		t.Fatalf("welcome %v", w)
	}
	m := c.next(t)
	mk, _ := m["market"].(map[string]any)
	if m["event_type"] != "market" || m["snapshot"] != true || mk["symbol"] != "BTC-USD" || mk["price"] != 45150.32 || m["agent"] != nil {
		t.Errorf("market snapshot %v", m)
	}
	a := c.next(t)
	ag, _ := a["agent"].(map[string]any)
	if a["event_type"] != "agent" || ag["agent_id"] != "Balanced" || ag["capital"] != 115000.5 || ag["trades_executed"] != 28.0 ||
		ag["win_rate"] != 0.62 || ag["status"] != "active" || ag["timestamp"] == nil {
		t.Errorf("agent snapshot %v", a)
	}
	h.Publish(events(1041, 20), nil)
	for want := uint64(1041); want < 1061; want++ {
		if got := seqOf(t, c.next(t)); got != want {
			t.Fatalf("sequence %d, want %d", got, want)
		}
	}
}

func TestSchemaV2(t *testing.T) {
	h, srv := newTestHub(t, Config{})
	c := mustDial(t, srv, "?schema=v2")
	c.next(t) // welcome
	h.Publish(events(1, 5), nil)
	m := c.next(t)
	if m["type"] != "market" || m["symbol"] != "BTC-USD" || m["price"] == nil || m["timestamp"] == nil {
		t.Errorf("v2 market %v", m)
	}
	c.next(t) // seq 2, market
	a := c.next(t)
	if a["type"] != "agent" || a["agent_name"] != "Balanced" || a["trades"] != 28.0 || a["action"] != "trading" || a["scars"] != 0.0 {
		t.Errorf("v2 agent %v", a)
	}
	tr := c.next(t)
	if tr["type"] != "trade" || tr["agent_id"] != "Momentum" || tr["symbol"] != "ETH-USD" || seqOf(t, tr) != 4 {
		t.Errorf("v2 trade %v", tr)
	}
	if _, _, err := dial(t, srv, "?schema=v9", nil); err == nil {
		t.Error("schema v9 accepted")
	}
}

func TestResumeIsGapFreeAndWithoutDuplicates(t *testing.T) {
	past := events(1, 30)
	hist := &history{events: past, oldest: 1}
	h, srv := newTestHub(t, Config{History: hist})
	h.SetLastSeq(30, nil)
	c := mustDial(t, srv, "?since=12")
	c.next(t)                      // welcome
	h.Publish(events(31, 10), nil) // live events while the client catches up
	for want := uint64(13); want <= 40; want++ {
		if got := seqOf(t, c.next(t)); got != want {
			t.Fatalf("sequence %d, want %d", got, want)
		}
	}
	select {
	case b := <-c.msgs:
		t.Errorf("an extra message after 40: %s", b)
	default:
	}
}

func TestResumeSaysWhatItCannotDo(t *testing.T) {
	hist := &history{events: events(1, 30), oldest: 10}
	h, srv := newTestHub(t, Config{History: hist})
	h.SetLastSeq(30, nil)
	c := mustDial(t, srv, "?since=3")
	c.next(t)
	if m := c.next(t); m["type"] != "resume" || m["code"] != "truncated" || !strings.Contains(m["message"].(string), "no longer kept") {
		t.Fatalf("resume from before the oldest: %v", m)
	}
	if got := seqOf(t, c.next(t)); got != 10 {
		t.Errorf("first resumed sequence %d, want the oldest kept, 10", got)
	}
	c2 := mustDial(t, srv, "?since=99")
	c2.next(t)
	if m := c2.next(t); m["type"] != "resume" || m["code"] != "ahead" {
		t.Errorf("resume from the future: %v", m)
	}
}

func TestSubscribeFilters(t *testing.T) {
	h, srv := newTestHub(t, Config{})
	c := mustDial(t, srv, "")
	c.next(t)
	c.sendText(t, `{"type":"subscribe","symbols":["sol-usd"],"events":["market"]}`)
	if m := c.next(t); m["type"] != "subscribed" {
		t.Fatalf("subscribe answer %v", m)
	}
	h.Publish(events(1, 20), nil)
	for range 6 { // SOL ticks among 1..20: the even market sequences 2, 6, 10, 12, 16, 20
		m := c.next(t)
		if m["event_type"] != "market" || m["market"].(map[string]any)["symbol"] != "SOL-USD" {
			t.Fatalf("filtered stream gave %v", m)
		}
	}
	c.sendText(t, `{"type":"subscribe","events":["weather"]}`)
	if m := c.next(t); m["type"] != "error" || !strings.Contains(m["message"].(string), "weather") {
		t.Errorf("a bad subscription: %v", m)
	}
}

func TestClientMessages(t *testing.T) {
	_, srv := newTestHub(t, Config{})
	c := mustDial(t, srv, "")
	c.next(t)
	for _, tt := range []struct{ send, wantType, wantCode string }{
		{`{"type":"ping"}`, "pong", ""},
		{`{"type":"heartbeat"}`, "pong", ""},
		{`{"type":`, "error", "malformed"},
		{`{"type":"dance"}`, "error", "unknown_type"},
		{`[1,2,3]`, "error", "malformed"},
	} {
		c.sendText(t, tt.send)
		m := c.next(t)
		if m["type"] != tt.wantType || (tt.wantCode != "" && m["code"] != tt.wantCode) {
			t.Errorf("sent %s, got %v", tt.send, m)
		}
	}
	if err := c.conn.WriteMessage(2 /* binary */, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if m := c.next(t); m["code"] != "binary" {
		t.Errorf("binary frame answered %v", m)
	}
	c.sendText(t, `{"type":"ping"}`) // still up
	if m := c.next(t); m["type"] != "pong" {
		t.Errorf("after errors: %v", m)
	}
}

func TestOversizedFrameAndFloodClose(t *testing.T) {
	_, srv := newTestHub(t, Config{})
	big := mustDial(t, srv, "")
	big.next(t)
	big.sendText(t, `{"type":"ping","pad":"`+strings.Repeat("x", MaxInbound)+`"}`)
	if code, _ := big.closeCode(t); code != 1009 {
		t.Errorf("oversized frame closed with %d, want 1009", code)
	}
	flood := mustDial(t, srv, "")
	flood.next(t)
	for range InboundBurst * 3 {
		if flood.conn.WriteString(`{"type":"ping"}`) != nil {
			break
		}
	}
	code, reason := flood.closeCode(t)
	if code != 1008 || !strings.Contains(reason, "flood") {
		t.Errorf("flood closed with %d %q, want 1008 naming the flood", code, reason)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	h, srv := newTestHub(t, Config{MaxConns: 2, Token: "s3cret"})
	auth := http.Header{"Authorization": {"Bearer s3cret"}}
	for _, tt := range []struct {
		name string
		q    string
		hdr  http.Header
		code int
	}{
		{"no token", "", nil, http.StatusUnauthorized},
		{"wrong token", "?token=nope", nil, http.StatusUnauthorized},
		{"foreign origin", "", http.Header{"Authorization": {"Bearer s3cret"}, "Origin": {"http://evil.example"}}, http.StatusForbidden},
	} {
		_, resp, err := dial(t, srv, tt.q, tt.hdr)
		if err == nil || resp == nil || resp.StatusCode != tt.code {
			st := 0
			if resp != nil {
				st = resp.StatusCode
			}
			t.Errorf("%s: err %v status %d, want %d", tt.name, err, st, tt.code)
		}
	}
	a, _, err := dial(t, srv, "", http.Header{"Authorization": {"Bearer s3cret"}, "Origin": {"http://localhost:5173"}})
	if err != nil {
		t.Fatalf("header token and a localhost origin: %v", err)
	}
	a.next(t)
	b, _, err := dial(t, srv, "?token=s3cret", nil)
	if err != nil {
		t.Fatalf("query token: %v", err)
	}
	b.next(t)
	_, resp, err := dial(t, srv, "", auth)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third connection past MaxConns 2: err %v", err)
	}
	st := h.Stats()
	if st.Refused["token"] != 2 || st.Refused["origin"] != 1 || st.Refused["max_conns"] != 1 || st.Connections != 2 {
		t.Errorf("stats %+v", st)
	}
}

// Close delivers what was published before it, then 1001.
func TestCloseSends1001(t *testing.T) {
	h, srv := newTestHub(t, Config{})
	c := mustDial(t, srv, "")
	c.next(t)
	h.Publish(events(1, 200), nil)
	if err := h.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 200; want++ {
		if got := seqOf(t, c.next(t)); got != want {
			t.Fatalf("got %d before the close frame, want %d", got, want)
		}
	}
	if code, _ := c.closeCode(t); code != 1001 {
		t.Errorf("close code %d, want 1001", code)
	}
	if h.Stats().Connections != 0 {
		t.Errorf("connections after Close: %d", h.Stats().Connections)
	}
}

func TestFanOutToAThousandClients(t *testing.T) {
	const n, msgs = 1000, 50
	h, srv := newTestHub(t, Config{})
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = mustDial(t, srv, "")
		clients[i].next(t)
	}
	h.Publish(events(1, msgs), nil)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := uint64(1); want <= msgs; want++ {
				select {
				case b := <-c.msgs:
					if !strings.Contains(string(b), fmt.Sprintf(`"sequence":%d`, want)) {
						errs <- fmt.Errorf("got %s, want sequence %d", b, want)
						return
					}
				case <-c.closed:
					errs <- fmt.Errorf("closed before message %d: %v", want, c.err)
					return
				case <-time.After(wait):
					errs <- fmt.Errorf("message %d never came", want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := h.Stats(); st.MessagesSent < n*(msgs+1) {
		t.Errorf("sent %d messages, want at least %d", st.MessagesSent, n*(msgs+1))
	}
}

// A client gets the snapshot taken with the last events published before
// it joined, then exactly the events after them: nothing twice.
func TestSnapshotAndLiveDoNotOverlap(t *testing.T) {
	h, srv := newTestHub(t, Config{})
	after5 := &arena.Snapshot{Time: t0, Marks: []arena.MarketEvent{{Symbol: "BTC-USD", Price: market.PriceFromFloat(5)}}}
	h.Publish(events(1, 5), after5)
	h.Flush() // the client joins after those events
	c := mustDial(t, srv, "")
	if w := c.next(t); seqOf(t, w) != 5 {
		t.Fatalf("welcome %v, want sequence 5", w)
	}
	if m := c.next(t); m["snapshot"] != true || m["market"].(map[string]any)["price"] != 5.0 {
		t.Fatalf("snapshot %v, want the state after event 5", m)
	}
	h.Publish(events(6, 3), nil)
	for want := uint64(6); want <= 8; want++ {
		if got := seqOf(t, c.next(t)); got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
}

// An idle client survives the server's pings long after the last data
// write's deadline has passed, and its own pings are answered.
func TestIdleClientSurvivesPings(t *testing.T) {
	h, srv := newTestHub(t, Config{PingInterval: 30 * time.Millisecond, WriteTimeout: 20 * time.Millisecond})
	c := mustDial(t, srv, "")
	c.next(t) // welcome: the last data write for a while
	for range 5 {
		select {
		case <-c.pings:
		case <-c.closed:
			t.Fatalf("closed while idle: %v", c.err)
		case <-time.After(wait):
			t.Fatal("no ping")
		}
	}
	if err := c.conn.WritePing([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	h.Publish(events(1, 1), nil)
	if got := seqOf(t, c.next(t)); got != 1 {
		t.Errorf("after idling: sequence %d", got)
	}
	if h.Stats().Connections != 1 {
		t.Errorf("connections %d, want 1", h.Stats().Connections)
	}
}

// Batches published faster than the fan-out takes them are joined, in
// order: a client gets every event once, in sequence.
func TestPublishedBatchesKeepTheirOrder(t *testing.T) {
	h, srv := newTestHub(t, Config{})
	c := mustDial(t, srv, "")
	c.next(t)
	const batches = 500
	for i := range batches {
		h.Publish(events(uint64(2*i+1), 2), nil)
	}
	for want := uint64(1); want <= 2*batches; want++ {
		if got := seqOf(t, c.next(t)); got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
}

// In both schemas every message of the snapshot is marked
// "snapshot":true and carries the welcome's sequence, as the protocol
// says; live events carry no mark.
func TestSnapshotIsMarkedInEverySchema(t *testing.T) {
	snap := &arena.Snapshot{
		Time: t0,
		Marks: []arena.MarketEvent{
			{Symbol: "BTC-USD", Price: market.PriceFromFloat(45150.32)},
			{Symbol: "ETH-USD", Price: market.PriceFromFloat(2501.2)},
		},
		Agents: []arena.AgentState{
			{ID: "Balanced", Status: arena.StatusActive},
			{ID: "Momentum", Status: arena.StatusDeceased},
			{ID: "Conservative", Status: arena.StatusResting},
		},
	}
	const snapMsgs = 5
	for _, tt := range []struct{ name, query string }{
		{"v1", ""},
		{"v1 named", "?schema=v1"},
		{"v2", "?schema=v2"},
		{"v2 without history to resume from", "?schema=v2&since=3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, srv := newTestHub(t, Config{})
			h.SetLastSeq(1040, snap)
			c := mustDial(t, srv, tt.query)
			w := c.next(t)
			if w["type"] != "welcome" {
				t.Fatalf("first message %v, want the welcome", w)
			}
			if strings.Contains(tt.query, "since=") {
				if m := c.next(t); m["type"] != "resume" || m["code"] != "unavailable" {
					t.Fatalf("resume without history answered %v", m)
				}
			}
			for i := range snapMsgs {
				m := c.next(t)
				if m["snapshot"] != true || seqOf(t, m) != seqOf(t, w) {
					t.Errorf("snapshot message %d: %v; want \"snapshot\":true and the welcome's sequence %d", i+1, m, seqOf(t, w))
				}
			}
			h.Publish(events(1041, 5), nil)
			for want := uint64(1041); want < 1046; want++ {
				m := c.next(t)
				if got := seqOf(t, m); got != want {
					t.Fatalf("sequence %d, want %d (%v)", got, want, m)
				}
				if _, ok := m["snapshot"]; ok {
					t.Errorf("live event %d is marked as a snapshot: %v", want, m)
				}
			}
		})
	}
}

// An Origin is scheme://host[:port] and nothing more: one spelled with
// user-info, a path, a query or a fragment is refused, whatever the
// allowed list — "*" included.
func TestOriginMustBeOnlySchemeAndHost(t *testing.T) {
	for _, tt := range []struct {
		allowed []string
		origin  string
		ok      bool
	}{
		{nil, "", true},
		{nil, "http://localhost:5173", true},
		{nil, "https://127.0.0.1", true},
		{nil, "http://[::1]:9001", true},
		{nil, "HTTP://LOCALHOST:5173", true},
		{nil, "http://evil.example", false},
		{nil, "http://evil.example@localhost", false},
		{nil, "http://evil.example@localhost:9001", false},
		{nil, "http://user:pass@localhost:9001", false},
		{nil, "http://localhost:9001/", false},
		{nil, "http://localhost:9001/path", false},
		{nil, "http://localhost:9001?q=1", false},
		{nil, "http://localhost:9001?", false},
		{nil, "http://localhost:9001#frag", false},
		{nil, "http://localhost:9001#", false},
		{nil, "null", false},
		{[]string{"https://lineage.example"}, "https://lineage.example", true},
		{[]string{"https://lineage.example"}, "https://x@lineage.example", false},
		{[]string{"https://lineage.example"}, "https://lineage.example/", false},
		{[]string{"*"}, "https://anywhere.example:8443", true},
		{[]string{"*"}, "https://evil.example@anywhere.example", false},
		{[]string{"*"}, "https://anywhere.example/#", false},
	} {
		h := newHub(Config{AllowedOrigins: tt.allowed}, false)
		if got := h.originAllowed(tt.origin); got != tt.ok {
			t.Errorf("allowed %q, Origin %q: %v, want %v", tt.allowed, tt.origin, got, tt.ok)
		}
		h.Close(0)
	}
	// And over the wire: the handshake is refused with 403.
	_, srv := newTestHub(t, Config{})
	_, resp, err := dial(t, srv, "", http.Header{"Origin": {"http://evil.example@localhost"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("Origin with user-info: err %v, response %v; want 403", err, resp)
	}
}

// ?since= at the head replays nothing; beyond it — up to the largest
// sequence number, whose successor does not exist — the server says
// "ahead"; a since that is not a sequence number is refused in HTTP.
func TestResumeSinceAtAndBeyondTheHead(t *testing.T) {
	hist := &history{events: events(1, 30), oldest: 1}
	h, srv := newTestHub(t, Config{History: hist})
	h.SetLastSeq(30, nil)
	for _, since := range []string{"31", "18446744073709551615"} {
		c := mustDial(t, srv, "?since="+since)
		c.next(t) // welcome
		if m := c.next(t); m["type"] != "resume" || m["code"] != "ahead" || seqOf(t, m) != 30 {
			t.Errorf("since=%s: %v, want resume ahead at 30", since, m)
		}
	}
	at := mustDial(t, srv, "?since=30")
	at.next(t) // welcome
	h.Publish(events(31, 1), nil)
	if m := at.next(t); m["resume"] != nil || m["type"] == "resume" || seqOf(t, m) != 31 {
		t.Errorf("since=30 at the head: %v, want the next live event, 31", m)
	}
	for _, since := range []string{"-1", "x", "1e3", "18446744073709551616", " 5"} {
		_, resp, err := dial(t, srv, "?since="+url.QueryEscape(since), nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("since=%q: err %v, response %v; want 400", since, err, resp)
		}
	}
}
