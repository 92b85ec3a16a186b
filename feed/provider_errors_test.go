package feed

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

func TestProviderFailures(t *testing.T) {
	html := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeBody(w, status, "text/html; charset=utf-8", sample(t, "error_page.html"))
		}
	}
	body := func(status int, ct, b string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { writeBody(w, status, ct, []byte(b)) }
	}
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		reason   Reason
		requests int    // 3 when retried to the end
		msg      string // in the error text
	}{
		{"malformed JSON", body(200, "application/json", `{"bitcoin":{"usd":4500`), ReasonParse, 1, "malformed JSON"},
		{"trailing garbage", body(200, "application/json", `{"bitcoin":{"usd":1}} {}`), ReasonParse, 1, "malformed JSON"},
		{"HTML page with 200", html(200), ReasonParse, 1, `content type "text/html; charset=utf-8"`},
		{"HTML page with 502", html(502), ReasonHTTP5xx, 3, "502 Bad Gateway"},
		{"wrong content type", body(200, "text/plain", `{"bitcoin":{"usd":45000.1}}`), ReasonParse, 1, `content type "text/plain"`},
		{"null price", body(200, "application/json", `{"bitcoin":{"usd":null}}`), ReasonParse, 1, "BTC-USD: price null"},
		{"string price", body(200, "application/json", `{"bitcoin":{"usd":"lots"}}`), ReasonParse, 1, "BTC-USD"},
		{"zero price", body(200, "application/json", `{"bitcoin":{"usd":0}}`), ReasonParse, 1, "must be positive"},
		{"negative price", body(200, "application/json", `{"bitcoin":{"usd":-2.5}}`), ReasonParse, 1, "must be positive"},
		{"401", body(401, "application/json", `{"status":{"error_code":10002,"error_message":"API Key Missing"}}`), ReasonAuth, 1, "401 Unauthorized: API Key Missing"},
		{"403", html(403), ReasonAuth, 1, "403 Forbidden"},
		{"404", body(404, "application/json", `{"error":"coin not found"}`), ReasonHTTP4xx, 1, "404 Not Found: coin not found"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/", http.StatusFound)
		}, ReasonHTTP4xx, 1, "not followed"},
		{"500", body(500, "application/json", `{}`), ReasonHTTP5xx, 3, "500 Internal Server Error"},
		{"429 without Retry-After", body(429, "application/json", string(sample(t, "coingecko_rate_limited.json"))), ReasonRateLimited, 3, "exceeded the Rate Limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, "coingecko")
			api.set(tt.handler)
			l, clock, _ := newTestLive(t, oneProvider(api, "", "BTC-USD"))
			prices, err := fetchOnce(t, l, "BTC-USD")
			if len(prices) != 0 || reasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, %v; want no price and a %s error containing %q", prices, err, tt.reason, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "coingecko: "+string(tt.reason)+": ") {
				t.Errorf("error %q does not start with provider and reason", err)
			}
			st := l.Stats().Providers[0]
			if api.count() != tt.requests || st.Requests != uint64(tt.requests) || st.Failures != uint64(tt.requests) {
				t.Errorf("%d requests served, stats %d requests %d failures; want %d", api.count(), st.Requests, st.Failures, tt.requests)
			}
			if want := map[Reason]uint64{tt.reason: uint64(tt.requests)}; !maps.Equal(errorsOf(l, 0), want) {
				t.Errorf("errors %v, want %v", errorsOf(l, 0), want)
			}
			// Retries back off: 125–250 ms, then 250–500 ms.
			sl := clock.sleeps()
			if len(sl) != tt.requests-1 {
				t.Fatalf("sleeps %v", sl)
			}
			for i, d := range sl {
				lo := backoffBase << i / 2
				if d < lo || d > 2*lo {
					t.Errorf("backoff %d: %v, want in [%v, %v]", i+1, d, lo, 2*lo)
				}
			}
		})
	}
}

// A 500 followed by a success is one retry and a price.
func TestRetryThenSuccess(t *testing.T) {
	api := newFakeAPI(t, "coinbase")
	var n atomic.Int32
	api.set(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			writeBody(w, 500, "application/json", []byte(`{"message":"Internal server error"}`))
			return
		}
		serveSample(t, "coinbase", w, r)
	})
	l, _, _ := newTestLive(t, oneProvider(api, "", "BTC-USD"))
	if got := show(round(t, l)); !slices.Equal(got, []string{"BTC-USD 45003.17 coinbase"}) {
		t.Fatalf("ticks %q", got)
	}
	st := l.Stats()
	if p := st.Providers[0]; p.Requests != 2 || p.Failures != 1 || p.Errors[ReasonHTTP5xx] != 1 {
		t.Errorf("stats %+v", p)
	}
	if r := st.RequestSuccessRate(); r != 50 {
		t.Errorf("success rate %v, want 50", r)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		value func(now time.Time) string
		wait  time.Duration
	}{
		{"seconds", func(time.Time) string { return "2" }, 2 * time.Second},
		{"HTTP date", func(now time.Time) string {
			return now.Add(4 * time.Second).Truncate(time.Second).Format(http.TimeFormat)
		}, 4*time.Second - 123456789},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, "coingecko")
			var n atomic.Int32
			var clock *fakeClock
			api.set(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Retry-After", tt.value(clock.Now()))
					writeBody(w, 429, "application/json", sample(t, "coingecko_rate_limited.json"))
					return
				}
				serveSample(t, "coingecko", w, r)
			})
			var l *Live
			l, clock, _ = newTestLive(t, oneProvider(api, "", "BTC-USD"))
			if got := show(round(t, l)); !slices.Equal(got, []string{"BTC-USD 45000.10 coingecko"}) {
				t.Fatalf("ticks %q", got)
			}
			if sl := clock.sleeps(); !slices.Equal(sl, []time.Duration{tt.wait}) {
				t.Errorf("slept %v, want exactly the Retry-After %v", sl, tt.wait)
			}
			if e := errorsOf(l, 0); !maps.Equal(e, map[Reason]uint64{ReasonRateLimited: 1}) {
				t.Errorf("errors %v", e)
			}
		})
	}
}

// A Retry-After longer than MaxWait ends the call, and no request goes out
// until it has passed.
func TestLongRetryAfterHoldsRequests(t *testing.T) {
	api := newFakeAPI(t, "coingecko")
	var limited atomic.Bool
	limited.Store(true)
	api.set(func(w http.ResponseWriter, r *http.Request) {
		if limited.Load() {
			w.Header().Set("Retry-After", "120")
			writeBody(w, 429, "application/json", sample(t, "coingecko_rate_limited.json"))
			return
		}
		serveSample(t, "coingecko", w, r)
	})
	l, clock, _ := newTestLive(t, oneProvider(api, "", "BTC-USD"))
	if _, err := fetchOnce(t, l, "BTC-USD"); reasonOf(err) != ReasonRateLimited || api.count() != 1 {
		t.Fatalf("first call: %v after %d requests", err, api.count())
	}
	limited.Store(false)
	clock.advance(100 * time.Second) // 20 s to go: more than MaxWait
	_, err := fetchOnce(t, l, "BTC-USD")
	if !held(err) || api.count() != 1 {
		t.Fatalf("within Retry-After: %v after %d requests; want a refusal without request", err, api.count())
	}
	if st := l.Stats().Providers[0]; st.Requests != 1 || st.Errors[ReasonRateLimited] != 2 || st.Breaker != BreakerClosed {
		t.Errorf("stats %+v", st)
	}
	clock.advance(17 * time.Second) // 3 s to go: waited out
	if p, err := fetchOnce(t, l, "BTC-USD"); err != nil || len(p) != 1 || api.count() != 2 {
		t.Fatalf("after Retry-After: %v %v after %d requests", p, err, api.count())
	}
	if sl := clock.sleeps(); !slices.Equal(sl, []time.Duration{3 * time.Second}) {
		t.Errorf("slept %v, want the 3 s left of the Retry-After", sl)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-3", 0}, {"7", 7 * time.Second}, {" 7 ", 7 * time.Second},
		{"99999999999", maxRetryAfter}, {"soon", 0},
		{"Thu, 01 Jan 2026 00:00:30 GMT", 30 * time.Second},
		{"Wed, 31 Dec 2025 23:59:00 GMT", 0},
		{"Thursday, 01-Jan-26 00:01:00 GMT", time.Minute},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.v, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestTimeout(t *testing.T) {
	api := newFakeAPI(t, "coindesk")
	api.set(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	cfg := oneProvider(api, "", "BTC-USD")
	cfg.RequestTimeout = 20 * time.Millisecond
	l, _, _ := newTestLive(t, cfg)
	_, err := fetchOnce(t, l, "BTC-USD")
	if reasonOf(err) != ReasonTimeout || !strings.Contains(err.Error(), "no answer within 20ms") {
		t.Fatalf("err %v, want a timeout", err)
	}
	if st := l.Stats().Providers[0]; st.Requests != 3 || st.Errors[ReasonTimeout] != 3 {
		t.Errorf("stats %+v, want 3 timed-out requests", st)
	}
}

func TestNetworkError(t *testing.T) {
	api := newFakeAPI(t, "coinbase")
	url := api.URL
	api.Close()
	l, _, _ := newTestLive(t, LiveConfig{Symbols: []market.Symbol{"BTC-USD"}, Providers: []ProviderConfig{{Name: "coinbase", BaseURL: url}}})
	_, err := fetchOnce(t, l, "BTC-USD")
	if reasonOf(err) != ReasonNetwork || strings.Contains(err.Error(), url) {
		t.Fatalf("err %v, want a network error without the URL", err)
	}
	if st := l.Stats().Providers[0]; st.Requests != 3 || st.Errors[ReasonNetwork] != 3 {
		t.Errorf("stats %+v", st)
	}
}

// A 50 MB body is cut off after the limit: the client stops reading and
// the server's writes fail long before the end.
func TestBodyTooLarge(t *testing.T) {
	const total = 50 << 20
	api := newFakeAPI(t, "coingecko")
	written := make(chan int, 1)
	api.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(`{"bitcoin":{"usd":45000.1}}` + strings.Repeat(" ", 64<<10-27))
		n := 0
		for n < total {
			m, err := w.Write(chunk)
			n += m
			if err != nil {
				break
			}
			w.(http.Flusher).Flush()
		}
		written <- n
	})
	l, _, _ := newTestLive(t, oneProvider(api, "", "BTC-USD"))
	_, err := fetchOnce(t, l, "BTC-USD")
	if reasonOf(err) != ReasonParse || !strings.Contains(err.Error(), "body larger than 1048576 bytes") {
		t.Fatalf("err %v, want a parse error for the size", err)
	}
	n := <-written
	t.Logf("the server wrote %d of %d bytes", n, total)
	if n >= total/2 {
		t.Errorf("the server wrote %d bytes: the client read on", n)
	}
	if api.count() != 1 {
		t.Errorf("%d requests: a too-large body is not retried", api.count())
	}
}
