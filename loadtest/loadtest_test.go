package loadtest

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The zero Config fields take their documented defaults.
func TestConfigDefaults(t *testing.T) {
	p, err := newPlan(t.Context(), Config{URL: "ws://127.0.0.1:9001"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.cfg
	if c.Clients != 1000 || c.Duration != 30*time.Second || c.Ramp != 0 || c.MaxOpen != 256 || c.Schema != "v1" || c.Slow != 0 || c.PID != 0 {
		t.Errorf("defaults %+v", c)
	}
	if p.addr != "ws://127.0.0.1:9001/?schema=v1" || p.host != "127.0.0.1:9001" {
		t.Errorf("dials %q with Host %q", p.addr, p.host)
	}
}

// A Config Run refuses is a *ConfigError naming the field at fault, and
// no connection is tried.
func TestConfigErrors(t *testing.T) {
	const ok = "ws://127.0.0.1:9001/"
	for _, tc := range []struct {
		cfg          Config
		field, value string
		want         string
	}{
		{Config{URL: ok, Clients: -1}, "Clients", "-1", "at least 1"},
		{Config{URL: ok, Clients: 2, Slow: 3}, "Slow", "3", "between 0 and Clients (2)"},
		{Config{URL: ok, Duration: -time.Second}, "Duration", "-1s", "positive"},
		{Config{URL: ok, Ramp: -time.Second}, "Ramp", "-1s", "not be negative"},
		{Config{URL: ok, MaxOpen: -1}, "MaxOpen", "-1", "at least 1"},
		{Config{URL: ok, PID: -1}, "PID", "-1", "not a process id"},
		{Config{URL: ok, Schema: "v3"}, "Schema", `"v3"`, "want v1 or v2"},
		{Config{}, "URL", `""`, "the scheme must be ws or wss"},
		{Config{URL: "http://127.0.0.1/"}, "URL", `"http://127.0.0.1/"`, "the scheme must be ws or wss"},
		{Config{URL: "ws://192.0.2.1/"}, "URL", "ws://192.0.2.1/", "192.0.2.1 is not a loopback address"},
		{Config{URL: "ws://127.0.0.1:0/"}, "URL", "ws://127.0.0.1:0/", `bad port "0"`},
		{Config{URL: ok, SourceAddrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}, "SourceAddrs", "10.0.0.1", "not a loopback address"},
		{Config{URL: ok, SourceAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")}}, "SourceAddrs", "::1", "mixed"},
		{Config{URL: ok, SourceAddrs: []netip.Addr{netip.MustParseAddr("::1")}}, "URL", ok, "no address of the family of the source addresses"},
	} {
		rep, err := Run(t.Context(), tc.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || rep != nil {
			t.Errorf("%+v: report %v, error %v; want a ConfigError and no report", tc.cfg, rep, err)
			continue
		}
		if ce.Field != tc.field || ce.Value != tc.value || !strings.Contains(ce.Err.Error(), tc.want) {
			t.Errorf("%+v: %q %q %q; want %q %q and %q", tc.cfg, ce.Field, ce.Value, ce.Err, tc.field, tc.value, tc.want)
		}
		if !strings.HasPrefix(err.Error(), tc.field+" "+tc.value+": ") {
			t.Errorf("error %q does not start with the field and its value", err)
		}
	}
}

// An unreachable server is one error and no report.
func TestRunUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String() + "/"
	ln.Close()
	rep, err := Run(t.Context(), Config{URL: url, Clients: 1, Duration: time.Millisecond})
	if rep != nil || err == nil || !strings.HasPrefix(err.Error(), "cannot reach "+url+": ") || errors.Is(err, ErrNoClient) {
		t.Errorf("report %v, error %v; want cannot reach and no report", rep, err)
	}
}

// When no client connects, Run returns the report, which says why, and an
// error wrapping ErrNoClient.
func TestRunNoClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "full", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	rep, err := Run(t.Context(), Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Clients: 2, Duration: time.Millisecond})
	if !errors.Is(err, ErrNoClient) || err.Error() != "no client connected: 2 failed (http 503: 2)" {
		t.Errorf("error %v, want ErrNoClient with the failures", err)
	}
	if rep == nil || rep.Connect.Attempted != 2 || rep.Connect.Failed != 2 || rep.Connect.Failures["http 503"] != 2 {
		t.Errorf("report %+v, want 2 failed with http 503", rep)
	}
}
