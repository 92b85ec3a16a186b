package metrics_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/metrics"
)

func TestHandler(t *testing.T) {
	notReady := errors.New("feed: no price yet")
	ready := func() error { return nil }
	for _, tc := range []struct {
		name     string
		path     string
		ready    func() error
		accept   string
		code     int
		ctype    string // prefix of the Content-Type
		body     string // exact body, when not ""
		contains string // a substring of the body, when not ""
	}{
		{name: "health", path: "/health", code: 200, ctype: "application/json", body: `{"status":"ok","service":"lineage-metrics"}`},
		{name: "livez", path: "/livez", code: 200, ctype: "text/plain", body: "ok"},
		{name: "readyz ok", path: "/readyz", ready: ready, code: 200, ctype: "text/plain", body: "ok"},
		{name: "readyz nil func", path: "/readyz", code: 200, body: "ok"},
		{name: "readyz not ready", path: "/readyz", ready: func() error { return notReady }, code: 503, ctype: "text/plain", body: "feed: no price yet"},
		{name: "metrics text", path: "/metrics", code: 200, ctype: "text/plain; version=0.0.4", contains: "\nlineage_uptime_seconds 3602\n"},
		{name: "metrics openmetrics", path: "/metrics", accept: "application/openmetrics-text; version=1.0.0", code: 200,
			ctype: "application/openmetrics-text; version=1.0.0", contains: "# TYPE lineage_agent_trades counter\nlineage_agent_trades_total{agent=\"Balanced\"} 40.0\n"},
		{name: "metrics subpath", path: "/metrics/x", code: 404},
		{name: "favicon", path: "/favicon.ico", code: 404},
		{name: "root", path: "/", code: 404},
		{name: "health subpath", path: "/health/", code: 404},
		{name: "unknown", path: "/api/agents", code: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := metrics.Handler(metrics.NewRegistry(fixture()), tc.ready)
			var hdr []string
			if tc.accept != "" {
				hdr = []string{"Accept", tc.accept}
			}
			code, ctype, body := get(t, h, tc.path, hdr...)
			if code != tc.code {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, code, tc.code, body)
			}
			if !strings.HasPrefix(ctype, tc.ctype) {
				t.Errorf("Content-Type %q, want %q…", ctype, tc.ctype)
			}
			if tc.body != "" && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.contains != "" && !strings.Contains(body, tc.contains) {
				t.Errorf("body lacks %q:\n%s", tc.contains, body)
			}
			if tc.accept != "" && !strings.HasSuffix(body, "# EOF\n") {
				t.Errorf("OpenMetrics body does not end in # EOF:\n…%s", body[max(0, len(body)-200):])
			}
		})
	}
}

// TestHandlerMethods: a known path with another method is 405, not a
// silent 200.
func TestHandlerMethods(t *testing.T) {
	srvH := metrics.Handler(metrics.NewRegistry(fixture()), nil)
	for _, path := range []string{"/metrics", "/health", "/readyz"} {
		rec := do(t, srvH, "POST", path)
		if rec != 405 {
			t.Errorf("POST %s: %d, want 405", path, rec)
		}
	}
	if code := do(t, srvH, "HEAD", "/health"); code != 200 {
		t.Errorf("HEAD /health: %d, want 200", code)
	}
}
