package cli

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/hub"
	"github.com/lineage-arena/lineage/loadtest"
	"github.com/lineage-arena/lineage/market"
)

// startLoadHub serves an in-process hub and feeds it from a goroutine the
// test owns: every `every`, a batch of market events stamped with the time
// they are published, each padded with pad bytes. It returns the
// WebSocket URL; the publisher is stopped and waited for at cleanup.
func startLoadHub(t *testing.T, cfg hub.Config, every time.Duration, batch, pad int) string {
	t.Helper()
	h := hub.New(cfg)
	srv := httptest.NewServer(h)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		source := strings.Repeat("x", pad)
		var seq uint64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			evs := make([]arena.Event, batch)
			for i := range evs {
				seq++
				evs[i] = arena.Event{Seq: seq, Time: time.Now().UTC(), Type: arena.EventMarket, Market: &arena.MarketEvent{
					Symbol: "BTC-USD", Price: market.PriceFromFloat(45000 + float64(seq%100)), Source: source}}
			}
			h.Publish(evs, nil)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		h.Close(5 * time.Second)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func runLoadJSON(t *testing.T, args ...string) *loadtest.Report {
	t.Helper()
	r := runCmd(t, nil, append([]string{"loadtest", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, r.stdout)
	}
	return &rep
}

// Fifty clients get every event, in order, each once, and the report adds
// up: messages ≈ clients × events, latency quantiles in order.
func TestLoadtestFanOut(t *testing.T) {
	url := startLoadHub(t, hub.Config{}, 10*time.Millisecond, 1, 0)
	const clients = 50
	rep := runLoadJSON(t, "--url", url, "--clients", "50", "--ramp", "200ms", "--duration", "2s", "--max-open", "8")

	if c := rep.Connect; c.Connected != clients || c.Welcomed != clients || c.Failed != 0 {
		t.Fatalf("connect %+v, want %d connected and welcomed", c, clients)
	}
	if o := rep.Order; o.Gaps != 0 || o.Missing != 0 || o.Duplicates != 0 {
		t.Errorf("order %+v, want no gap and no duplicate", o)
	}
	if len(rep.Dropped) != 0 {
		t.Errorf("healthy clients dropped: %v", rep.Dropped)
	}
	d := rep.Delivery
	if d.WindowEvents < 50 {
		t.Fatalf("only %d events in a 2 s window published every 10 ms", d.WindowEvents)
	}
	// Clients straddle the window's edges by an event or two each.
	want := float64(clients * d.WindowEvents)
	if got := float64(d.WindowMessages); got < want-2*clients || got > want {
		t.Errorf("window messages %d, want ≈ %d clients × %d events", d.WindowMessages, clients, d.WindowEvents)
	}
	if d.PerSecond <= 0 || d.PerClientPerSecond <= 0 || d.Unparsed != 0 {
		t.Errorf("delivery %+v", d)
	}
	l := rep.Latency
	if l == nil {
		t.Fatal("no latency")
	}
	if l.Samples != d.WindowMessages-d.Untimed || l.Samples == 0 {
		t.Errorf("latency samples %d, window messages %d", l.Samples, d.WindowMessages)
	}
	if !(0 <= l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency quantiles out of order: %+v", l)
	}
	if rep.SlowClients != nil || rep.Server != nil {
		t.Errorf("slow and server figures without --slow and --pid: %+v %+v", rep.SlowClients, rep.Server)
	}
}

// Two clients that stop reading are cut by the server; the others lose
// nothing meanwhile.
func TestLoadtestSlowClientsAreCut(t *testing.T) {
	// 400 events of 8 KiB a second fill a stopped client's socket buffers
	// in about a second; the hub then cuts it after a 200 ms write timeout.
	url := startLoadHub(t, hub.Config{WriteTimeout: 200 * time.Millisecond}, 5*time.Millisecond, 2, 8<<10)
	rep := runLoadJSON(t, "--url", url, "--clients", "10", "--slow", "2", "--ramp", "100ms", "--duration", "4s")

	if rep.Connect.Connected != 10 {
		t.Fatalf("connect %+v", rep.Connect)
	}
	s := rep.SlowClients
	if s == nil || s.Clients != 2 || s.Stopped != 2 || s.Cut != 2 || s.NotCut != 0 {
		t.Fatalf("slow clients %+v, want both stopped and cut", s)
	}
	if s.CutAfter == nil || s.CutAfter.Samples != 2 || s.CutAfter.Max <= 0 {
		t.Errorf("cut times not measured: %+v", s.CutAfter)
	}
	if len(rep.Dropped) != 0 {
		t.Errorf("healthy clients dropped: %v", rep.Dropped)
	}
	if o := rep.Order; o.Gaps != 0 || o.Duplicates != 0 {
		t.Errorf("order %+v, want no gap and no duplicate", o)
	}
	if rep.Delivery.WindowMessages == 0 || rep.Latency == nil {
		t.Errorf("healthy clients got nothing: %+v", rep.Delivery)
	}
}

func TestLoadtestRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"not loopback", []string{"--url", "ws://192.0.2.1:9001/"}, 2, "192.0.2.1 is not a loopback address"},
		{"not loopback v6", []string{"--url", "ws://[2001:db8::1]:9001/"}, 2, "not a loopback address"},
		{"source not loopback", []string{"--source-addrs", "10.0.0.1"}, 2, "10.0.0.1 is not a loopback address"},
		{"bad range", []string{"--source-addrs", "127.0.0.9-127.0.0.2"}, 2, "not a range"},
		{"scheme", []string{"--url", "http://127.0.0.1:9001/"}, 2, "ws or wss"},
		{"no host", []string{"--url", "ws:///x"}, 2, `--url "ws:///x": no host`},
		{"port", []string{"--url", "ws://127.0.0.1:0/"}, 2, `--url ws://127.0.0.1:0/: bad port "0"`},
		{"pid", []string{"--pid", "999999999"}, 2, "--pid 999999999: "},
		{"clients", []string{"--clients", "0"}, 2, "--clients 0"},
		{"slow", []string{"--clients", "2", "--slow", "3"}, 2, "--slow 3"},
		{"schema", []string{"--schema", "v3"}, 2, "--schema"},
		{"duration", []string{"--duration", "0s"}, 2, "--duration"},
		{"argument", []string{"ws://127.0.0.1:9001/"}, 2, "--url"},
		{"unreachable", []string{"--url", "ws://" + closed + "/"}, 1, "cannot reach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, nil, append([]string{"loadtest"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			if tc.code == 1 && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("a runtime failure is one line, got %q", r.stderr)
			}
		})
	}
}

func TestLoadtestEnvironmentTwin(t *testing.T) {
	r := runCmd(t, map[string]string{"LINEAGE_URL": "ws://192.0.2.7/"}, "loadtest")
	if r.code != 2 || !strings.Contains(r.stderr, "192.0.2.7 is not a loopback address") {
		t.Errorf("LINEAGE_URL not read: exit %d, %q", r.code, r.stderr)
	}
}

func TestParseLoadSources(t *testing.T) {
	got, err := parseLoadSources("127.0.0.2-127.0.0.4, 127.0.1.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4"), netip.MustParseAddr("127.0.1.1")}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1-::1", "127.0.0.1,::1", "127.0.0.1-128.0.0.1", "x"} {
		if _, err := parseLoadSources(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
