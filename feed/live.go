package feed

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// Clock is the time of a Live source: the system clock by default, a fake
// in tests.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or returns ctx.Err() as soon as ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ProviderConfig configures one provider of a Live source. Only Name is
// required; every other zero value means the provider's default.
type ProviderConfig struct {
	// Name is one of ProviderNames(): coingecko, coindesk, coinmarketcap,
	// coinbase.
	Name string
	// BaseURL replaces the public endpoint, for a proxy or a test server:
	// an absolute http(s) URL such as "http://127.0.0.1:8080"; the API's
	// paths are appended to it.
	BaseURL string
	// APIKey goes in the provider's key header, never in a URL, a log line
	// or an error. CoinMarketCap needs one; CoinGecko (demo tier) and
	// CoinDesk use one when given; Coinbase ignores it.
	APIKey string
	// TTL is how long a fetched price stays fresh: 60s for coingecko and
	// coinmarketcap, 10s for coindesk, 5s for coinbase.
	TTL time.Duration
	// RateLimit is the sustained requests per second the token bucket
	// allows and Burst its size; see docs/providers.md for the defaults.
	RateLimit float64
	Burst     int
}

// LiveConfig configures NewLive. Its zero value is usable: every field has
// a documented default.
type LiveConfig struct {
	// Symbols are the pairs to price, ticked in this order; empty means
	// market.DefaultSymbols. A repeated symbol is dropped.
	Symbols []market.Symbol
	// Providers in fallback order; empty means every built-in provider
	// with its defaults, in the order of ProviderNames().
	Providers []ProviderConfig
	// Interval is the time between fetch rounds; zero means 5s.
	Interval time.Duration
	// MaxStale is the oldest a price may be, counted from its fetch, and
	// still be served (as stale) when no provider has a fresh one; zero
	// means DefaultMaxStale (2 minutes).
	MaxStale time.Duration
	// RequestTimeout bounds every HTTP request, body included; zero means 5s.
	RequestTimeout time.Duration
	// MaxAttempts is how often a request is tried; zero means 3.
	MaxAttempts int
	// MaxWait is the longest single wait for a backoff, a Retry-After or a
	// rate-limit token; zero means 5s. A longer Retry-After ends the call,
	// and the provider gets no request until it has passed.
	MaxWait time.Duration
	// MaxBody bounds a response body in bytes; zero means 1 MiB.
	MaxBody int64
	// Client sends the requests; nil means a client of Live's own. Live
	// never follows redirects, and Close closes the client's idle
	// connections.
	Client *http.Client
	// Clock is the time source; nil means the system clock.
	Clock Clock
	// Seed seeds the retry jitter.
	Seed uint64
	// Logger receives state changes only (no provider answers, prices
	// recovered, a breaker opening); nil discards them.
	Logger *slog.Logger
	// OnRequest, when set, is called after every HTTP request with its
	// provider, its duration and its failure reason ("" on success), on
	// the goroutine calling Next. It must be quick.
	OnRequest func(provider string, d time.Duration, r Reason)
}

// Defaults of LiveConfig.
const (
	DefaultLiveInterval   = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// Live is a Source of live prices from HTTP providers. Every Interval it
// runs a fetch round through the providers in fallback order (each behind
// a TTL cache, a circuit breaker, retries and a rate limiter) and then
// returns, from successive calls to Next, one tick per symbol that has a
// price, in the configured order, all stamped with the round's time, each
// with its provider as Source and Stale set when the price is past its TTL.
// A symbol without a fresh or recent price gets no tick that round:
// Stats says why. Prices are never made up.
//
// Next never returns an error because providers fail: when none answers it
// logs "no provider answers" once, keeps trying every Interval, and logs
// "prices recovered" once one answers again. It returns ctx.Err() when ctx
// is done, and an error wrapping fs.ErrClosed after Close.
//
// Live starts no goroutine: every request runs inside Next. One goroutine
// owns a Live and calls Next; Stats may be called from any goroutine at
// any time.
type Live struct {
	syms     []market.Symbol
	interval time.Duration
	clock    Clock
	log      *slog.Logger
	client   *http.Client
	provs    []*liveProvider
	chain    fallback
	closed   atomic.Bool

	pending []market.Tick
	next    time.Time // when the next round may start
	last    time.Time // the last round's stamp
	noted   []bool    // per symbol: its absence was logged

	mu      sync.Mutex // guards what Stats reads
	rounds  uint64
	offline bool
	symStat []SymbolStats
}

// liveProvider is one decorated provider of a Live.
type liveProvider struct {
	name  string
	stats *providerStats
	br    *breaker
}

var _ Source = (*Live)(nil)

// NewLive validates cfg and returns a Live source. It sends no request:
// the first call to Next runs the first round. It fails on an unknown or
// repeated provider name and on a malformed base URL.
func NewLive(cfg LiveConfig) (*Live, error) {
	l := &Live{interval: cfg.Interval, clock: cfg.Clock, log: cfg.Logger}
	if l.interval <= 0 {
		l.interval = DefaultLiveInterval
	}
	if l.clock == nil {
		l.clock = systemClock{}
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	syms := cfg.Symbols
	if len(syms) == 0 {
		syms = market.DefaultSymbols
	}
	seen := map[market.Symbol]bool{}
	for _, s := range syms {
		if !seen[s] {
			seen[s] = true
			l.syms = append(l.syms, s)
			l.symStat = append(l.symStat, SymbolStats{Symbol: s})
		}
	}
	l.noted = make([]bool, len(l.syms))
	client := &http.Client{}
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		client.Transport = t.Clone() // its own pool, which Close empties
	}
	if cfg.Client != nil {
		c := *cfg.Client
		client = &c
	}
	client.CheckRedirect = noRedirect
	l.client = client
	pcs := cfg.Providers
	if len(pcs) == 0 {
		for _, name := range ProviderNames() {
			pcs = append(pcs, ProviderConfig{Name: name})
		}
	}
	for _, pc := range pcs {
		if err := l.addProvider(cfg, pc); err != nil {
			return nil, fmt.Errorf("live feed: %w", err)
		}
	}
	return l, nil
}

func (l *Live) addProvider(cfg LiveConfig, pc ProviderConfig) error {
	name := strings.ToLower(strings.TrimSpace(pc.Name))
	d, ok := lookupProvider(name)
	if !ok {
		return fmt.Errorf("unknown provider %q: want one of %s", pc.Name, strings.Join(ProviderNames(), ", "))
	}
	for _, p := range l.provs {
		if p.name == name {
			return fmt.Errorf("provider %s listed twice", name)
		}
	}
	base := d.baseURL
	if pc.BaseURL != "" {
		var err error
		if base, err = baseURL(pc.BaseURL); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	key := strings.TrimSpace(pc.APIKey)
	rate := pc.RateLimit
	if rate <= 0 {
		rate = d.rate
		if key != "" && d.keyedRate > 0 {
			rate = d.keyedRate
		}
	}
	burst := pc.Burst
	if burst <= 0 {
		burst = d.burst
	}
	ttl := positive(pc.TTL, d.ttl)
	maxWait := positive(cfg.MaxWait, DefaultMaxWait)
	stats := newProviderStats(name, cfg.OnRequest)
	var do doer = &httpDoer{
		provider: name, client: l.client, clock: l.clock, stats: stats, secrets: []string{key, pc.APIKey},
		timeout: positive(cfg.RequestTimeout, DefaultRequestTimeout),
		maxBody: positive(cfg.MaxBody, DefaultMaxBody),
	}
	do = &limitDoer{next: do, lim: newLimiter(l.clock, rate, burst), maxWait: maxWait, clock: l.clock, provider: name, stats: stats}
	do = &retryDoer{next: do, attempts: positive(cfg.MaxAttempts, DefaultMaxAttempts), maxWait: maxWait, clock: l.clock,
		rng: rand.New(rand.NewPCG(cfg.Seed, fnv1a(name)))}
	br := &breaker{clock: l.clock, onChange: func(from, to BreakerState) { l.breakerChanged(name, from, to) }}
	p := &breakerProvider{next: d.build(base, key, do, stats), br: br, stats: stats}
	l.chain.chain = append(l.chain.chain, newCache(p, ttl, positive(cfg.MaxStale, DefaultMaxStale), l.clock, stats))
	l.provs = append(l.provs, &liveProvider{name: name, stats: stats, br: br})
	if name == "coinmarketcap" && key == "" {
		l.log.Warn("provider needs an API key; it will refuse every call", "provider", name)
	}
	return nil
}

func positive[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Symbols returns the symbols in tick order. The slice is a copy.
func (l *Live) Symbols() []market.Symbol {
	return append([]market.Symbol(nil), l.syms...)
}

// Next returns the next tick, running a fetch round when the last round's
// ticks are used up; the round waits for the Interval since the previous
// round began. See Live for its errors.
func (l *Live) Next(ctx context.Context) (market.Tick, error) {
	for {
		if err := ctx.Err(); err != nil {
			return market.Tick{}, err
		}
		if l.closed.Load() {
			return market.Tick{}, fmt.Errorf("live feed: %w", fs.ErrClosed)
		}
		if len(l.pending) > 0 {
			t := l.pending[0]
			l.pending = l.pending[1:]
			return t, nil
		}
		if !l.next.IsZero() {
			if d := l.next.Sub(l.clock.Now()); d > 0 {
				if err := l.clock.Sleep(ctx, d); err != nil {
					return market.Tick{}, err
				}
			}
		}
		l.next = l.clock.Now().Add(l.interval)
		l.round(ctx)
	}
}

// round runs one fetch round and queues its ticks.
func (l *Live) round(ctx context.Context) {
	res := l.chain.round(ctx, l.syms)
	if ctx.Err() != nil {
		return // incomplete: Next returns ctx.Err()
	}
	now := l.clock.Now().UTC().Round(0)
	if now.Before(l.last) {
		now = l.last // ticks never go back in time
	}
	l.last = now
	ticks := make([]market.Tick, 0, len(l.syms))
	l.mu.Lock()
	l.rounds++
	for i, sym := range l.syms {
		st := &l.symStat[i]
		if p, ok := res.picks[sym]; ok {
			ticks = append(ticks, market.Tick{Symbol: sym, Price: p.price, Time: now, Source: p.source, Stale: p.stale})
			st.LastTick, st.Provider, st.Stale, st.Missing = now, p.source, p.stale, ""
		} else {
			st.Missing = res.missing[sym]
		}
	}
	wasOffline := l.offline
	l.offline = res.fresh == 0
	l.mu.Unlock()
	l.pending = ticks
	l.logRound(res, wasOffline)
}

// logRound logs the changes of state a round brought, once each.
func (l *Live) logRound(res roundResult, wasOffline bool) {
	switch {
	case res.fresh == 0 && !wasOffline:
		errs := make([]string, len(res.errs))
		for i, err := range res.errs {
			errs[i] = err.Error()
		}
		l.log.Warn("no provider answers",
			"providers", strings.Join(l.names(), ","), "errors", strings.Join(errs, "; "),
			"stale", len(res.picks), "retry_every", l.interval)
		clear(l.noted)
		return
	case res.fresh == 0:
		return
	case wasOffline:
		l.log.Warn("prices recovered", "fresh", res.fresh, "symbols", len(l.syms))
	}
	for i, sym := range l.syms {
		_, ok := res.picks[sym]
		switch {
		case !ok && !l.noted[i]:
			l.noted[i] = true
			l.log.Warn("no price for symbol", "symbol", sym, "reason", res.missing[sym])
		case ok && l.noted[i]:
			l.noted[i] = false
			l.log.Info("symbol price recovered", "symbol", sym)
		}
	}
}

func (l *Live) breakerChanged(name string, from, to BreakerState) {
	switch to {
	case BreakerOpen:
		if from == BreakerClosed {
			l.log.Warn("provider circuit open", "provider", name, "after_failures", BreakerThreshold, "retry_in", BreakerCooldown)
		}
	case BreakerClosed:
		l.log.Info("provider circuit closed", "provider", name)
	}
}

func (l *Live) names() []string {
	names := make([]string, len(l.provs))
	for i, p := range l.provs {
		names[i] = p.name
	}
	return names
}

// Stats returns a snapshot of the counters. It is safe to call from any
// goroutine, concurrently with Next.
func (l *Live) Stats() LiveStats {
	var s LiveStats
	for _, p := range l.provs {
		ps := p.stats.snapshot()
		ps.Breaker = p.br.current()
		s.Providers = append(s.Providers, ps)
	}
	l.mu.Lock()
	s.Symbols = append([]SymbolStats(nil), l.symStat...)
	s.Rounds, s.Offline = l.rounds, l.offline
	l.mu.Unlock()
	return s
}

// Close makes later calls to Next fail and closes the client's idle
// connections. It does not interrupt a running Next: cancel its context
// for that. Close is idempotent and always returns nil.
func (l *Live) Close() error {
	if !l.closed.Swap(true) {
		l.client.CloseIdleConnections()
	}
	return nil
}
