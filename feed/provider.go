package feed

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// provider is one live price API behind its own ids. The live source
// decorates each provider, the way middleware wraps an http.Handler:
//
//	cache → breaker → provider → retry → rate limit → HTTP (timeout, bounded read)
//
// The outer two work per call of fetch; the inner three per HTTP request
// (see doer). Adding a provider means writing one more implementation and
// registering it in providerTable (docs/providers.md walks through it).
type provider interface {
	// name is the provider's name, also the Source of its ticks.
	name() string
	// fetch returns the prices of those syms the provider covers. A symbol
	// it has no id for, or that its answer leaves out, is simply absent:
	// partial coverage is not an error. fetch may return some prices
	// together with an error when only part of its requests failed; the
	// prices are then valid. Errors are *providerError, or ctx.Err() when
	// the caller gave up.
	fetch(ctx context.Context, syms []market.Symbol) (map[market.Symbol]market.Price, error)
}

// Reason classifies a failed provider request or a refused provider call.
// The set is fixed, so metrics labelled by it stay bounded.
type Reason string

// The reasons. Every failed request has exactly one.
const (
	// ReasonTimeout: a request outlived LiveConfig.RequestTimeout.
	ReasonTimeout Reason = "timeout"
	// ReasonHTTP4xx: a 4xx status other than 401, 402, 403 and 429, a
	// redirect (never followed, so a key never travels to another host),
	// or an API's own error report with a 2xx status.
	ReasonHTTP4xx Reason = "http_4xx"
	// ReasonHTTP5xx: a 5xx status.
	ReasonHTTP5xx Reason = "http_5xx"
	// ReasonRateLimited: a 429 or an API's own rate-limit report, or a call
	// refused without a request by the local rate limiter or while an
	// earlier Retry-After still runs.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonAuth: 401, 402 or 403, an API's own key error, or a provider
	// that needs a key and has none (then no request is sent).
	ReasonAuth Reason = "auth"
	// ReasonParse: a 2xx answer that is not the documented JSON: malformed,
	// another content type (an HTML page), larger than the body limit, or
	// with a missing, non-numeric or non-positive price.
	ReasonParse Reason = "parse"
	// ReasonNetwork: no HTTP answer: DNS, connection refused or reset.
	ReasonNetwork Reason = "network"
	// ReasonBreakerOpen: a call refused without a request because the
	// provider's circuit breaker is open.
	ReasonBreakerOpen Reason = "breaker_open"
)

// Reasons returns the fixed set of reasons, in a stable order.
func Reasons() []Reason {
	return []Reason{ReasonTimeout, ReasonHTTP4xx, ReasonHTTP5xx, ReasonRateLimited, ReasonAuth, ReasonParse, ReasonNetwork, ReasonBreakerOpen}
}

func (r Reason) index() int {
	for i, x := range Reasons() {
		if x == r {
			return i
		}
	}
	return -1
}

const numReasons = 8

// providerError is a failed provider call. Its text never holds an API key:
// keys travel in headers only and every message taken from a response is
// redacted.
type providerError struct {
	provider   string
	reason     Reason
	status     int           // HTTP status; 0 when there was no answer
	sent       bool          // a request went out
	retryAfter time.Duration // from a Retry-After header; 0 when none
	msg        string
}

func (e *providerError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.provider, e.reason, e.msg)
}

// reasonOf returns the reason of a provider error, or "" for nil and for
// errors that are not the provider's (a cancelled context).
func reasonOf(err error) Reason {
	var pe *providerError
	if errors.As(err, &pe) {
		return pe.reason
	}
	return ""
}

// held reports a call that the rate limiter or a running Retry-After
// refused without sending a request: the provider did nothing wrong.
func held(err error) bool {
	var pe *providerError
	return errors.As(err, &pe) && pe.reason == ReasonRateLimited && !pe.sent
}

// redact removes every secret from s and bounds its length, so a message
// taken from a response can go into an error or a log line.
func redact(s string, secrets []string) string {
	for _, k := range secrets {
		if k != "" {
			s = strings.ReplaceAll(s, k, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	const maxMsg = 200
	if len(s) > maxMsg {
		s = s[:maxMsg] + "…"
	}
	return strings.TrimSpace(s)
}

// ProviderNames returns the names of the built-in providers in the default
// fallback order: coingecko, coindesk, coinmarketcap, coinbase.
func ProviderNames() []string {
	names := make([]string, len(providerTable))
	for i, d := range providerTable {
		names[i] = d.name
	}
	return names
}

// providerDefaults are one built-in provider's constructor and defaults.
type providerDefaults struct {
	name    string
	baseURL string
	ttl     time.Duration // how long a price counts as fresh
	rate    float64       // requests per second the limiter allows
	burst   int
	// keyedRate, when set, replaces rate when an API key is given.
	keyedRate float64
	build     func(base, key string, d doer, st *providerStats) provider
}

// providerTable lists the built-in providers in the default fallback order.
// docs/providers.md explains every number.
var providerTable = []providerDefaults{
	{
		name: "coingecko", baseURL: "https://api.coingecko.com",
		ttl:  60 * time.Second, // the free and demo tiers refresh prices every 60 s
		rate: 10.0 / 60, keyedRate: 30.0 / 60, burst: 3,
		build: newCoinGecko,
	},
	{
		name: "coindesk", baseURL: "https://data-api.coindesk.com",
		ttl:  10 * time.Second, // an index value updates several times a second
		rate: 1, burst: 3,
		build: newCoinDesk,
	},
	{
		name: "coinmarketcap", baseURL: "https://pro-api.coinmarketcap.com",
		ttl:  60 * time.Second, // the Basic plan's quotes update every 60 s
		rate: 30.0 / 60, burst: 3,
		build: newCoinMarketCap,
	},
	{
		name: "coinbase", baseURL: "https://api.exchange.coinbase.com",
		ttl:  5 * time.Second, // a last trade; public limit 10 requests/s per IP
		rate: 8, burst: 8,
		build: newCoinbase,
	},
}

func lookupProvider(name string) (providerDefaults, bool) {
	for _, d := range providerTable {
		if d.name == name {
			return d, true
		}
	}
	return providerDefaults{}, false
}

// baseURL validates an absolute http(s) URL and trims its trailing slash.
func baseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base URL %q: want an absolute http or https URL without query", s)
	}
	if u.User != nil {
		return "", fmt.Errorf("base URL %q: credentials do not belong in a URL; pass the API key", u.Redacted())
	}
	return strings.TrimRight(s, "/"), nil
}

// joinIDs writes ids as one comma-separated query value; each id is escaped
// but the commas are kept, as the APIs document them.
func joinIDs(ids []string) string {
	esc := make([]string, len(ids))
	for i, id := range ids {
		esc[i] = url.QueryEscape(id)
	}
	return strings.Join(esc, ",")
}
