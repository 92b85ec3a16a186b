package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

func testServer(t *testing.T, src Sources) *httptest.Server {
	t.Helper()
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(Handler(src, ws))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestAPI(t *testing.T) {
	snap := &arena.Snapshot{
		Time: time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC),
		Agents: []arena.AgentState{
			{ID: "Momentum", Status: arena.StatusDeceased, ROI: 0.5},
			{ID: "Balanced", Status: arena.StatusActive, ROI: -0.1},
		},
		Marks: []arena.MarketEvent{{Symbol: "BTC-USD", Price: market.PriceFromFloat(45000)}, {Symbol: "ETH-USD"}},
	}
	var gotSince uint64
	var gotLimit int
	srv := testServer(t, Sources{
		Snapshot:  func() *arena.Snapshot { return snap },
		Graveyard: func() (any, error) { return []string{"Momentum"}, nil },
		Events: func(since uint64, limit int) ([]json.RawMessage, error) {
			gotSince, gotLimit = since, limit
			return []json.RawMessage{json.RawMessage(`{"sequence":8}`)}, nil
		},
	})
	tests := []struct {
		path string
		code int
		want string
	}{
		{"/api/agents", 200, `"agent_id":"Balanced"`},
		{"/api/agents/Balanced", 200, `"agent_id":"Balanced"`},
		{"/api/agents/Nobody", 404, `no agent \"Nobody\"`},
		{"/api/market", 200, `"symbol":"BTC-USD"`},
		{"/api/leaderboard", 200, `"rank":1`},
		{"/api/graveyard", 200, `["Momentum"]`},
		{"/api/events?since=7&limit=5", 200, `{"sequence":8}`},
		{"/api/events?since=x", 400, "since"},
		{"/api/events?limit=0", 400, "limit"},
		{"/api/events?limit=5000", 400, "limit"},
		{"/api/nothing", 404, ""},
		{"/favicon.ico", 404, ""},
		{"/ws", 426, "WebSocket"},
		{"/", 200, "<h1>Lineage</h1>"},
	}
	for _, tt := range tests {
		code, body, _ := get(t, srv.URL+tt.path)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: %d %s; want %d containing %q", tt.path, code, body, tt.code, tt.want)
		}
	}
	if gotSince != 7 || gotLimit != 5 {
		t.Errorf("events asked since %d limit %d", gotSince, gotLimit)
	}
	if _, body, _ := get(t, srv.URL+"/api/market"); strings.Contains(body, "ETH-USD") {
		t.Errorf("a symbol without a tick is listed: %s", body)
	}
	if _, body, _ := get(t, srv.URL+"/api/leaderboard"); strings.Index(body, "Balanced") > strings.Index(body, "Momentum") {
		t.Errorf("the dead rank above the living: %s", body)
	}
	_, _, hdr := get(t, srv.URL+"/")
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("the page has no strict CSP: %q", csp)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Header.Set("Upgrade", "websocket")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusTeapot {
		t.Errorf("an upgrade on / did not reach the hub: %v %v", resp, err)
	}
}

func TestAPIBeforeTheFirstSnapshotAndOnErrors(t *testing.T) {
	srv := testServer(t, Sources{
		Snapshot: func() *arena.Snapshot { return nil },
	})
	if code, _, _ := get(t, srv.URL+"/api/agents"); code != 503 {
		t.Errorf("agents before a snapshot: %d", code)
	}
	if code, _, _ := get(t, srv.URL+"/api/events"); code != 404 {
		t.Errorf("events without a log: %d", code)
	}
}

// A failure behind the API is logged in full and answered in general
// terms: the detail names files of the data dir, which no client is to
// learn.
func TestAPIErrorsHideTheirDetail(t *testing.T) {
	const secret = "/srv/private/lineage-data/graveyard/Momentum.tomb"
	var logged strings.Builder
	srv := testServer(t, Sources{
		Snapshot:  func() *arena.Snapshot { return nil },
		Graveyard: func() (any, error) { return nil, errors.New("open " + secret + ": bad signature") },
		Events: func(uint64, int) ([]json.RawMessage, error) {
			return nil, errors.New("read " + secret + ": torn frame")
		},
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logged}, nil)),
	})
	for _, tt := range []struct{ path, want string }{
		{"/api/graveyard", "cannot read the graveyard"},
		{"/api/events?since=3", "cannot read the event log"},
	} {
		code, body, hdr := get(t, srv.URL+tt.path)
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != 500 || e.Error != tt.want || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s; want 500 and the JSON error %q", tt.path, code, body, tt.want)
		}
		if strings.Contains(body, "/srv/") || strings.Contains(body, "tomb") {
			t.Errorf("GET %s: the answer reveals the detail: %s", tt.path, body)
		}
	}
	if got := strings.Count(logged.String(), secret); got != 2 {
		t.Errorf("the detail was logged %d times, want 2 (once per failure):\n%s", got, logged.String())
	}
}

// syncWriter serialises writes to w (the server logs from its handlers'
// goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// A since at the largest sequence number asks for nothing (nothing can
// follow it: since+1 would wrap to 0 and list the log from its start),
// and one that is not a sequence number is refused.
func TestEventsSinceAtTheEnd(t *testing.T) {
	calls := 0
	srv := testServer(t, Sources{
		Snapshot: func() *arena.Snapshot { return nil },
		// As the event log does it: the events from since+1 on, none
		// after the largest sequence.
		Events: func(since uint64, limit int) ([]json.RawMessage, error) {
			calls++
			var out []json.RawMessage
			if since == math.MaxUint64 {
				return nil, nil
			}
			for seq := since + 1; seq <= 3 && len(out) < limit; seq++ {
				out = append(out, json.RawMessage(fmt.Sprintf(`{"sequence":%d}`, seq)))
			}
			return out, nil
		},
	})
	for _, tt := range []struct {
		since string
		code  int
		want  []uint64
	}{
		{"", 200, []uint64{1, 2, 3}},
		{"1", 200, []uint64{2, 3}},
		{"3", 200, []uint64{}},
		{"4", 200, []uint64{}},
		{"18446744073709551614", 200, []uint64{}},
		{"18446744073709551615", 200, []uint64{}},
		{"18446744073709551616", 400, nil},
		{"-1", 400, nil},
		{"x", 400, nil},
		{"1e3", 400, nil},
	} {
		code, body, _ := get(t, srv.URL+"/api/events?since="+url.QueryEscape(tt.since))
		if code != tt.code {
			t.Errorf("since=%q: %d %s, want %d", tt.since, code, body, tt.code)
			continue
		}
		if code != 200 {
			if !strings.Contains(body, `"error":"since must be a sequence number"`) {
				t.Errorf("since=%q: %s, want a JSON error naming since", tt.since, body)
			}
			continue
		}
		var got struct {
			Events []struct{ Sequence uint64 }
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.Events == nil {
			t.Fatalf("since=%q: %s: want a list (%v)", tt.since, body, err)
		}
		seqs := []uint64{}
		for _, e := range got.Events {
			seqs = append(seqs, e.Sequence)
		}
		if fmt.Sprint(seqs) != fmt.Sprint(tt.want) {
			t.Errorf("since=%q: sequences %v, want %v", tt.since, seqs, tt.want)
		}
	}
	if calls == 0 {
		t.Error("the event source was never asked")
	}
}

// With a token, every /api/... answer needs it, in the forms the hub
// takes on the upgrade; the page and its assets load without it.
func TestAPINeedsTheToken(t *testing.T) {
	const token = "s3cret-token"
	snap := &arena.Snapshot{Agents: []arena.AgentState{{ID: "Balanced", Status: arena.StatusActive}}}
	srv := testServer(t, Sources{
		Token:     token,
		Snapshot:  func() *arena.Snapshot { return snap },
		Graveyard: func() (any, error) { return []string{}, nil },
		Events:    func(uint64, int) ([]json.RawMessage, error) { return nil, nil },
	})
	paths := []string{"/api/agents", "/api/agents/Balanced", "/api/market", "/api/leaderboard", "/api/graveyard",
		"/api/events?since=0", "/api/nothing", "/api"}
	for _, p := range paths {
		sep := "?"
		if strings.Contains(p, "?") {
			sep = "&"
		}
		for _, tt := range []struct {
			name  string
			query string
			auth  string
			ok    bool
		}{
			{"no token", "", "", false},
			{"wrong bearer", "", "Bearer nope", false},
			{"a longer bearer", "", "Bearer " + token + "x", false},
			{"a prefix as bearer", "", "Bearer " + token[:4], false},
			{"basic", "", "Basic " + token, false},
			{"wrong query", "token=nope", "", false},
			{"empty query", "token=", "", false},
			{"wrong bearer over a right query", "token=" + token, "Bearer nope", false},
			{"bearer", "", "Bearer " + token, true},
			{"bearer in lower case", "", "bearer " + token, true},
			{"query", "token=" + token, "", true},
		} {
			u := srv.URL + p
			if tt.query != "" {
				u += sep + tt.query
			}
			req, _ := http.NewRequest("GET", u, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case tt.ok && resp.StatusCode == http.StatusUnauthorized:
				t.Errorf("GET %s with %s: 401, want it let through", p, tt.name)
			case !tt.ok && resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("GET %s with %s: %d %s, want 401", p, tt.name, resp.StatusCode, b)
			case !tt.ok && (!strings.Contains(string(b), `"error":"a bearer token is required`) ||
				resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("WWW-Authenticate") == ""):
				t.Errorf("GET %s with %s: %s %v, want a JSON error and WWW-Authenticate", p, tt.name, b, resp.Header)
			case !tt.ok && strings.Contains(string(b), "Balanced"):
				t.Errorf("GET %s with %s: a refusal carries data: %s", p, tt.name, b)
			}
		}
	}
	for _, p := range []string{"/", "/assets/app.js", "/assets/js/link.js"} {
		if code, _, _ := get(t, srv.URL+p); code != 200 {
			t.Errorf("GET %s without a token: %d, want the page to load", p, code)
		}
	}
	if code, _, _ := get(t, srv.URL+"/api/agents?token="+token); code != 200 {
		t.Errorf("GET /api/agents with the token: %d", code)
	}
}

// Events no longer kept (an edge's stream pruned them) are 410 Gone with
// the oldest kept, not a failure of the log.
func TestEventsNoLongerKeptAreGone(t *testing.T) {
	srv := testServer(t, Sources{
		Snapshot: func() *arena.Snapshot { return nil },
		Events: func(since uint64, _ int) ([]json.RawMessage, error) {
			if since < 99 {
				return nil, fmt.Errorf("stream: %w", GoneError{Oldest: 100})
			}
			return []json.RawMessage{json.RawMessage(`{"sequence":100}`)}, nil
		},
	})
	code, body, _ := get(t, srv.URL+"/api/events?since=41")
	var e struct {
		Error  string
		Oldest uint64
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || code != http.StatusGone || e.Oldest != 100 ||
		e.Error != "events 42 to 99 are no longer kept; the oldest kept is 100" {
		t.Errorf("GET /api/events?since=41: %d %s; want 410 saying events 42 to 99 are gone, oldest 100", code, body)
	}
	if code, body, _ := get(t, srv.URL+"/api/events?since=99"); code != 200 || !strings.Contains(body, `"sequence":100`) {
		t.Errorf("GET /api/events?since=99: %d %s; want 200 with event 100", code, body)
	}
}
