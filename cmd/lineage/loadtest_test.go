package main

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

func runLoadJSON(t *testing.T, args ...string) *loadReport {
	t.Helper()
	r := runCmd(t, nil, append([]string{"loadtest", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep loadReport
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

func TestScanLoadMessage(t *testing.T) {
	at := time.Date(2026, 2, 3, 14, 30, 45, 123456789, time.UTC)
	for _, tc := range []struct {
		msg  string
		kind loadKind
		seq  uint64
		ts   time.Time
	}{
		{`{"type":"welcome","client_id":7,"timestamp":"2026-02-03T14:30:45Z","message":"hi","sequence":1041}`, loadWelcome, 1041, time.Time{}},
		{`{"event_type":"market","market":{"symbol":"BTC-USD","price":45150.32,"timestamp":"2026-02-03T14:30:45.123456789Z","change_percent":0.45},"agent":null,"sequence":1042}`, loadEvent, 1042, at},
		{`{"event_type":"agent","market":null,"agent":{"agent_id":"Balanced","capital":1,"timestamp":"2026-02-03T14:30:45.123456789Z","strategy":"x"},"sequence":1043,"snapshot":true}`, loadEvent, 1043, at},
		{`{"event_type":"scar","market":null,"agent":null,"scar":{"agent":"A","scar":{"kind":"drawdown","sequence":7},"timestamp":"2026-02-03T14:30:45.123456789Z"},"sequence":1044}`, loadEvent, 1044, at},
		{`{"type":"market","symbol":"BTC-USD","price":1,"timestamp":"2026-02-03T14:30:45.123456789Z","sequence":1045}`, loadEvent, 1045, at},
		{`{"type":"pong"}`, loadControl, 0, time.Time{}},
		{`{"type":"resume","code":"truncated","from":3,"sequence":9}`, loadControl, 0, time.Time{}},
		{`{"sequence":1046,"event_type":"market","market":{"timestamp":"2026-02-03T14:30:45.123456789Z"}}`, loadEvent, 1046, at},
		{`not json`, loadUnknown, 0, time.Time{}},
		// The timestamp's fast path: microseconds, none, a zone offset.
		{`{"type":"market","symbol":"BTC-USD","price":1,"timestamp":"2026-02-03T14:30:45.123456Z","sequence":1047}`, loadEvent, 1047, at.Truncate(time.Microsecond)},
		{`{"type":"market","symbol":"BTC-USD","price":1,"timestamp":"2026-02-03T14:30:45Z","sequence":1048}`, loadEvent, 1048, at.Truncate(time.Second)},
		{`{"type":"market","symbol":"BTC-USD","price":1,"timestamp":"2026-02-03T16:00:45.5+01:30","sequence":1049}`, loadEvent, 1049, at.Truncate(time.Second).Add(500 * time.Millisecond)},
		// Not RFC 3339, or out of range: no time.
		{`{"type":"market","timestamp":"2026-02-30T14:30:45Z","sequence":1050}`, loadEvent, 1050, time.Time{}},
		{`{"type":"market","timestamp":"yesterday","sequence":1051}`, loadEvent, 1051, time.Time{}},
		// The last key of each name counts, wherever it is.
		{`{"event_type":"market","market":{"timestamp":"2026-02-03T14:30:45Z","x":{"timestamp":"2026-02-03T14:30:45.123456789Z"}},"sequence":7,"sequence":1052,"snapshot":true}`, loadEvent, 1052, at},
		{`{"type":"welcome","sequence":1053,"tail":"a:b:c"}`, loadWelcome, 1053, time.Time{}},
		// No usable sequence: decoded, which finds none or the first.
		{`{"event_type":"market","sequence":x}`, loadUnknown, 0, time.Time{}},
		{`{"event_type":"market","sequence":99999999999999999999}`, loadUnknown, 0, time.Time{}},
		{`{"event_type":"market","market":null}`, loadControl, 0, time.Time{}},
	} {
		kind, seq, ts := scanLoadMessage([]byte(tc.msg))
		if kind != tc.kind || seq != tc.seq || !ts.Equal(tc.ts) {
			t.Errorf("%s:\n got %v %d %v, want %v %d %v", tc.msg, kind, seq, ts, tc.kind, tc.seq, tc.ts)
		}
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

func TestLoadHistQuantiles(t *testing.T) {
	var h loadHist
	for i := 1; i <= 1000; i++ {
		h.record(i, time.Duration(i)*time.Millisecond)
	}
	s := h.summary()
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50, 500}, {"p95", s.P95, 950}, {"p99", s.P99, 990}, {"max", s.Max, 1000}} {
		if c.got < c.want || c.got > c.want*(1+1.0/64) {
			t.Errorf("%s = %v ms, want %v within 1/64", c.name, c.got, c.want)
		}
	}
	if s.Samples != 1000 {
		t.Errorf("samples %d", s.Samples)
	}
	for us := int64(0); us < 1<<20; us += 7 {
		if i := loadBucket(us); loadBucketTop(i) < us || (i > 0 && loadBucketTop(i-1) >= us) {
			t.Fatalf("%d µs in bucket %d of top %d", us, i, loadBucketTop(i))
		}
	}
}

// loadFastTime reads the layout Go writes times in JSON and nothing else,
// and agrees with time.Parse on what it reads.
func TestLoadFastTime(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"2026-02-03T14:30:45.123456789Z", true},
		{"2026-02-03T14:30:45.123456Z", true},
		{"2026-02-03T14:30:45.1Z", true},
		{"2026-02-03T14:30:45Z", true},
		{"2026-02-03T14:30:45.123-07:00", true},
		{"2026-02-03T14:30:45+05:45", true},
		{"2024-02-29T23:59:59.999999999Z", true},
		{"1969-12-31T23:59:59.5Z", true},
		{"0000-03-01T00:00:00Z", true},
		{"0000-01-01T00:00:00+23:59", true},
		{"9999-12-31T23:59:59.999999999-23:59", true},
		{"2025-02-29T00:00:00Z", false},
		{"2026-13-01T00:00:00Z", false},
		{"2026-02-03T24:00:00Z", false},
		{"2026-02-03T14:60:00Z", false},
		{"2026-02-03T14:30:60Z", false},
		{"2026-02-03T14:30:45.Z", false},
		{"2026-02-03T14:30:45.1234567891Z", false}, // time.Parse takes it; the fast path does not
		{"2026-02-03T14:30:45,123Z", false},
		{"2026-02-03t14:30:45Z", false},
		{"2026-02-03T14:30:45z", false},
		{"2026-02-03T14:30:45+24:00", false},
		{"2026-02-03T14:30:45+05:60", false},
		{"2026-02-03T14:30:45+0545", false},
		{"2026-02-03T14:30:45", false},
		{"2026-2-03T14:30:45Z", false},
		{"+026-02-03T14:30:45Z", false},
	} {
		got, ok := loadFastTime([]byte(tc.in))
		if ok != tc.ok {
			t.Errorf("%s: fast path %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		want, err := time.Parse(time.RFC3339Nano, tc.in)
		if ok && (err != nil || !got.Equal(want)) {
			t.Errorf("%s: %v, time.Parse %v (%v)", tc.in, got, want, err)
		}
		if !ok && err == nil && !loadParseTime([]byte(tc.in)).Equal(want) {
			t.Errorf("%s: the fallback does not give time.Parse's %v", tc.in, want)
		}
	}
}

// Every day from 1900 to 2100, and every leap day and year's end from
// year 0 to 9999, is as many days from 1970 as time.Date counts.
func TestLoadDaysSinceEpoch(t *testing.T) {
	check := func(d time.Time) {
		want := d.Unix() / 86400
		if d.Unix() < 0 && d.Unix()%86400 != 0 {
			want--
		}
		if got := loadDaysSinceEpoch(d.Year(), int(d.Month()), d.Day()); got != want {
			t.Fatalf("%s: %d days, want %d", d.Format(time.DateOnly), got, want)
		}
	}
	for d := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() <= 2100; d = d.AddDate(0, 0, 1) {
		check(d)
	}
	for y := 0; y <= 9999; y++ {
		check(time.Date(y, 2, 28, 0, 0, 0, 0, time.UTC))
		check(time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC))
		check(time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC))
	}
}

// Whatever loadFastTime accepts, time.Parse reads as the same instant.
func FuzzLoadFastTime(f *testing.F) {
	for _, s := range []string{"2026-02-03T14:30:45.123456789Z", "2026-02-03T14:30:45+05:45", "0000-02-29T00:00:00Z", "2026-02-03T14:30:45.Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := loadFastTime([]byte(s))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !got.Equal(want) {
			t.Fatalf("%q: fast path %v, time.Parse %v (%v)", s, got, want, err)
		}
	})
}

// Messages as the hub writes them, for BenchmarkScanLoadMessage.
var benchLoadMessages = []struct{ name, msg string }{
	{"v1-market", `{"event_type":"market","market":{"symbol":"BTC-USD","price":45150.32,"timestamp":"2026-02-03T14:30:45.123456789Z","change_percent":0.45,"source":"sim"},"agent":null,"sequence":104212}`},
	{"v1-agent", `{"event_type":"agent","market":null,"agent":{"agent_id":"Balanced-7","capital":10234.5,"trades_executed":41,"win_rate":0.512,"status":"active","timestamp":"2026-02-03T14:30:45.123456Z","strategy":"balanced","generation":3,"parent":"Balanced-2","scars":2,"roi":0.0234,"trust":0.71,"trust_tier":"trusted","cash":5234.5,"exposure":5000},"sequence":104213}`},
	{"v2-market", `{"type":"market","symbol":"BTC-USD","price":45150.32,"timestamp":"2026-02-03T14:30:45Z","sequence":104214}`},
}

func BenchmarkScanLoadMessage(b *testing.B) {
	for _, m := range benchLoadMessages {
		b.Run(m.name, func(b *testing.B) {
			msg := []byte(m.msg)
			b.ReportAllocs()
			for b.Loop() {
				if kind, _, ts := scanLoadMessage(msg); kind != loadEvent || ts.IsZero() {
					b.Fatalf("%v %v", kind, ts)
				}
			}
		})
	}
}
