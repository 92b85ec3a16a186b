package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// t0 is the fake clock's start, with nanoseconds so that recorded times
// prove they keep them.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 123456789, time.UTC)

// fakeClock is a Clock whose Sleep returns at once, moving its time on by
// the duration, and remembers every sleep.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.slept)
}

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns how many lines have msg="message".
func (b *logBuffer) count(message string) int {
	return strings.Count(b.String(), "msg=\""+message+"\"")
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// recorded is what a fake API saw of a request.
type recorded struct {
	path, query string
	header      http.Header
}

// fakeAPI is a provider's API on a loopback httptest server. By default it
// serves the documented samples of testdata/providers, trimmed to what was
// asked for, as the real APIs do; set replaces the handler.
type fakeAPI struct {
	*httptest.Server
	t        testing.TB
	provider string
	mu       sync.Mutex
	reqs     []recorded
	handler  http.HandlerFunc
}

func newFakeAPI(t testing.TB, provider string) *fakeAPI {
	f := &fakeAPI{t: t, provider: provider}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{r.URL.Path, r.URL.RawQuery, r.Header.Clone()})
	h := f.handler
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	serveSample(f.t, f.provider, w, r)
}

func (f *fakeAPI) set(h http.HandlerFunc) {
	f.mu.Lock()
	f.handler = h
	f.mu.Unlock()
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "providers", name))
	if err != nil {
		t.Errorf("sample: %v", err)
	}
	return b
}

func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}

// serveSample answers r the way provider's API does, from the samples.
func serveSample(t testing.TB, provider string, w http.ResponseWriter, r *http.Request) {
	const js = "application/json; charset=utf-8"
	q := r.URL.Query()
	keep := func(m map[string]json.RawMessage, keys string) map[string]json.RawMessage {
		out := map[string]json.RawMessage{}
		for k := range strings.SplitSeq(keys, ",") {
			if v, ok := m[k]; ok {
				out[k] = v
			}
		}
		return out
	}
	switch {
	case provider == "coingecko" && r.URL.Path == "/api/v3/simple/price":
		var all map[string]json.RawMessage
		json.Unmarshal(sample(t, "coingecko_simple_price.json"), &all)
		b, _ := json.Marshal(keep(all, q.Get("ids")))
		writeBody(w, 200, js, b)
	case provider == "coindesk" && r.URL.Path == "/index/cc/v1/latest/tick" && q.Get("market") == "cadli":
		var all struct {
			Data map[string]json.RawMessage
			Err  json.RawMessage
		}
		json.Unmarshal(sample(t, "coindesk_latest_tick.json"), &all)
		all.Data = keep(all.Data, q.Get("instruments"))
		b, _ := json.Marshal(all)
		writeBody(w, 200, js, b)
	case provider == "coinmarketcap" && r.URL.Path == "/v2/cryptocurrency/quotes/latest":
		var all struct {
			Status json.RawMessage            `json:"status"`
			Data   map[string]json.RawMessage `json:"data"`
		}
		json.Unmarshal(sample(t, "coinmarketcap_quotes_latest.json"), &all)
		all.Data = keep(all.Data, q.Get("id"))
		b, _ := json.Marshal(all)
		writeBody(w, 200, js, b)
	case provider == "coinbase" && strings.HasPrefix(r.URL.Path, "/products/") && strings.HasSuffix(r.URL.Path, "/ticker"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/products/"), "/ticker")
		b, err := os.ReadFile(filepath.Join("testdata", "providers", "coinbase_ticker_"+id+".json"))
		if err != nil {
			writeBody(w, 404, js, sample(t, "coinbase_not_found.json"))
			return
		}
		writeBody(w, 200, js, b)
	default:
		http.NotFound(w, r)
	}
}

// newTestLive returns a Live on a fake clock with its log captured; it is
// closed when the test ends.
func newTestLive(t *testing.T, cfg LiveConfig) (*Live, *fakeClock, *logBuffer) {
	t.Helper()
	clock := newFakeClock()
	logs := &logBuffer{}
	cfg.Clock, cfg.Logger = clock, logs.logger()
	l, err := NewLive(cfg)
	if err != nil {
		t.Fatalf("NewLive: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, clock, logs
}

// oneProvider configures a Live of one provider behind api.
func oneProvider(api *fakeAPI, key string, syms ...market.Symbol) LiveConfig {
	return LiveConfig{Symbols: syms, Providers: []ProviderConfig{{Name: api.provider, BaseURL: api.URL, APIKey: key}}}
}

// round runs one fetch round of l at the clock's time and returns its ticks.
func round(t *testing.T, l *Live) []market.Tick {
	t.Helper()
	l.round(t.Context())
	ticks := l.pending
	l.pending = nil
	return ticks
}

// show writes ticks as "SYMBOL PRICE SOURCE" lines, " stale" appended when
// stale.
func show(ticks []market.Tick) []string {
	out := make([]string, len(ticks))
	for i, tk := range ticks {
		out[i] = fmt.Sprintf("%s %s %s", tk.Symbol, tk.Price, tk.Source)
		if tk.Stale {
			out[i] += " stale"
		}
	}
	return out
}

// fetchOnce asks l's first provider, through its cache, for syms.
func fetchOnce(t *testing.T, l *Live, syms ...market.Symbol) (map[market.Symbol]market.Price, error) {
	t.Helper()
	return l.chain.chain[0].fresh(t.Context(), syms)
}

func errorsOf(l *Live, i int) map[Reason]uint64 {
	m := l.Stats().Providers[i].Errors
	for r, n := range m {
		if n == 0 {
			delete(m, r)
		}
	}
	return m
}
