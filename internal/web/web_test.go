package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
		Snapshot:  func() *arena.Snapshot { return nil },
		Graveyard: func() (any, error) { return nil, errors.New("bad signature on X.tomb") },
	})
	if code, _, _ := get(t, srv.URL+"/api/agents"); code != 503 {
		t.Errorf("agents before a snapshot: %d", code)
	}
	if code, body, _ := get(t, srv.URL+"/api/graveyard"); code != 500 || !strings.Contains(body, "X.tomb") {
		t.Errorf("graveyard error: %d %s", code, body)
	}
	if code, _, _ := get(t, srv.URL+"/api/events"); code != 404 {
		t.Errorf("events without a log: %d", code)
	}
}
