package feed

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

func TestProviderSuccess(t *testing.T) {
	tests := []struct {
		provider string
		key      string
		// wantReqs are path?query of every request, in order.
		wantReqs []string
		// header and value the key must travel in; "" for none.
		keyHeader, keyValue string
		want                []string
	}{
		{
			provider: "coingecko", key: "cg-demo-key",
			wantReqs:  []string{"/api/v3/simple/price?ids=bitcoin,ethereum,solana,cardano,polkadot&vs_currencies=usd&include_24hr_change=true"},
			keyHeader: "x-cg-demo-api-key", keyValue: "cg-demo-key",
			want: []string{"BTC-USD 45000.10 coingecko", "ETH-USD 2500.55 coingecko", "SOL-USD 98.76543219 coingecko", "ADA-USD 0.4512 coingecko", "DOT-USD 6.789 coingecko"},
		},
		{
			provider: "coindesk", key: "cd-key",
			wantReqs:  []string{"/index/cc/v1/latest/tick?market=cadli&instruments=BTC-USD,ETH-USD,SOL-USD,ADA-USD,DOT-USD"},
			keyHeader: "Authorization", keyValue: "Apikey cd-key",
			want: []string{"BTC-USD 45010.25 coindesk", "ETH-USD 2501.07 coindesk", "SOL-USD 98.81 coindesk", "ADA-USD 0.45133 coindesk", "DOT-USD 6.7912 coindesk"},
		},
		{
			provider: "coinmarketcap", key: "cmc-key",
			wantReqs:  []string{"/v2/cryptocurrency/quotes/latest?id=1,1027,5426,2010,6636"},
			keyHeader: "X-CMC_PRO_API_KEY", keyValue: "cmc-key",
			// 45002.123456789 rounds half up at the eighth decimal.
			want: []string{"BTC-USD 45002.12345679 coinmarketcap", "ETH-USD 2500.90 coinmarketcap", "SOL-USD 98.70 coinmarketcap", "ADA-USD 0.45129876 coinmarketcap", "DOT-USD 6.79 coinmarketcap"},
		},
		{
			provider: "coinbase",
			wantReqs: []string{"/products/BTC-USD/ticker?", "/products/ETH-USD/ticker?", "/products/SOL-USD/ticker?", "/products/ADA-USD/ticker?", "/products/DOT-USD/ticker?"},
			want:     []string{"BTC-USD 45003.17 coinbase", "ETH-USD 2500.01 coinbase", "SOL-USD 98.765 coinbase", "ADA-USD 0.4513 coinbase", "DOT-USD 6.788 coinbase"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			api := newFakeAPI(t, tt.provider)
			l, clock, _ := newTestLive(t, oneProvider(api, tt.key))
			ticks := round(t, l)
			if got := show(ticks); !slices.Equal(got, tt.want) {
				t.Errorf("ticks\n got %q\nwant %q", got, tt.want)
			}
			for _, tk := range ticks {
				if !tk.Time.Equal(clock.Now()) || tk.Time.Location() != time.UTC {
					t.Errorf("%s: time %v, want the round's %v in UTC", tk.Symbol, tk.Time, clock.Now())
				}
			}
			var got []string
			for _, r := range api.requests() {
				got = append(got, r.path+"?"+r.query)
				if tt.keyHeader != "" && r.header.Get(tt.keyHeader) != tt.keyValue {
					t.Errorf("header %s = %q, want %q", tt.keyHeader, r.header.Get(tt.keyHeader), tt.keyValue)
				}
				if tt.key != "" && strings.Contains(r.query, tt.key) {
					t.Errorf("the key is in the URL: %s", r.query)
				}
				if r.header.Get("User-Agent") != userAgent {
					t.Errorf("User-Agent %q", r.header.Get("User-Agent"))
				}
			}
			if !slices.Equal(got, tt.wantReqs) {
				t.Errorf("requests\n got %q\nwant %q", got, tt.wantReqs)
			}
			st := l.Stats().Providers[0]
			if st.Requests != uint64(len(tt.wantReqs)) || st.Failures != 0 || st.CacheMisses != 5 || st.CacheHits != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// Symbols a provider has no id for, or that its answer leaves out, are not
// covered by it; the others still get their prices, and nothing counts as
// an error.
func TestProviderPartialCoverage(t *testing.T) {
	syms := []market.Symbol{"BTC-USD", "XYZ-USD", "SOL-USD", "ETH-USDT"}
	tests := []struct {
		provider string
		wantReqs []string
		want     []string
		// wantNext are the requests of the round after the TTL: the
		// symbols just found uncovered are not asked for again.
		wantNext []string
	}{
		{"coingecko", []string{"/api/v3/simple/price?ids=bitcoin,solana&vs_currencies=usd&include_24hr_change=true"},
			[]string{"BTC-USD 45000.10 coingecko", "SOL-USD 98.76543219 coingecko"},
			[]string{"/api/v3/simple/price?ids=bitcoin,solana&vs_currencies=usd&include_24hr_change=true"}},
		{"coindesk", []string{"/index/cc/v1/latest/tick?market=cadli&instruments=BTC-USD,XYZ-USD,SOL-USD,ETH-USDT"},
			[]string{"BTC-USD 45010.25 coindesk", "SOL-USD 98.81 coindesk"},
			[]string{"/index/cc/v1/latest/tick?market=cadli&instruments=BTC-USD,SOL-USD"}},
		{"coinmarketcap", []string{"/v2/cryptocurrency/quotes/latest?id=1,5426"},
			[]string{"BTC-USD 45002.12345679 coinmarketcap", "SOL-USD 98.70 coinmarketcap"},
			[]string{"/v2/cryptocurrency/quotes/latest?id=1,5426"}},
		{"coinbase", []string{"/products/BTC-USD/ticker", "/products/XYZ-USD/ticker", "/products/SOL-USD/ticker", "/products/ETH-USDT/ticker"},
			[]string{"BTC-USD 45003.17 coinbase", "SOL-USD 98.765 coinbase"},
			[]string{"/products/BTC-USD/ticker", "/products/SOL-USD/ticker"}},
	}
	paths := func(rs []recorded) []string {
		var out []string
		for _, r := range rs {
			out = append(out, strings.TrimSuffix(r.path+"?"+r.query, "?"))
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			api := newFakeAPI(t, tt.provider)
			l, clock, _ := newTestLive(t, oneProvider(api, "k", syms...))
			if got := show(round(t, l)); !slices.Equal(got, tt.want) {
				t.Errorf("ticks\n got %q\nwant %q", got, tt.want)
			}
			if got := paths(api.requests()); !slices.Equal(got, tt.wantReqs) {
				t.Errorf("requests\n got %q\nwant %q", got, tt.wantReqs)
			}
			s := l.Stats()
			if n := s.ErrorsTotal(); n != 0 || s.Providers[0].Failures != 0 {
				t.Errorf("errors %v, failures %d; want none", s.Providers[0].Errors, s.Providers[0].Failures)
			}
			for _, st := range s.Symbols {
				want := ""
				if st.Symbol == "XYZ-USD" || st.Symbol == "ETH-USDT" {
					want = "no fresh or recent price: " + tt.provider + ": not covered"
				}
				if st.Missing != want {
					t.Errorf("%s: Missing %q, want %q", st.Symbol, st.Missing, want)
				}
			}
			d, _ := lookupProvider(tt.provider)
			clock.advance(d.ttl)
			n := len(api.requests())
			if got := show(round(t, l)); !slices.Equal(got, tt.want) {
				t.Errorf("next round: ticks %q", got)
			}
			if got := paths(api.requests()[n:]); !slices.Equal(got, tt.wantNext) {
				t.Errorf("next round: requests\n got %q\nwant %q", got, tt.wantNext)
			}
		})
	}
}

// CoinGecko's ids map back to the canonical symbols (SOL-USD, never
// SOLANA-USD), and CoinMarketCap asks for Solana by its id, 5426.
func TestSolanaMapping(t *testing.T) {
	cg := newFakeAPI(t, "coingecko")
	l, _, _ := newTestLive(t, oneProvider(cg, "", "SOL-USD"))
	if got := show(round(t, l)); !slices.Equal(got, []string{"SOL-USD 98.76543219 coingecko"}) {
		t.Errorf("coingecko: %q", got)
	}
	if q := cg.requests()[0].query; !strings.HasPrefix(q, "ids=solana&") {
		t.Errorf("coingecko query %q", q)
	}
	cmc := newFakeAPI(t, "coinmarketcap")
	l, _, _ = newTestLive(t, oneProvider(cmc, "k", "SOL-USD"))
	if got := show(round(t, l)); !slices.Equal(got, []string{"SOL-USD 98.70 coinmarketcap"}) {
		t.Errorf("coinmarketcap: %q", got)
	}
	if q := cmc.requests()[0].query; q != "id=5426" {
		t.Errorf("coinmarketcap query %q", q)
	}
}

// A CoinMarketCap answer whose coin is not the one the id table meant gives
// no price rather than a wrong one.
func TestCoinMarketCapChecksSymbol(t *testing.T) {
	api := newFakeAPI(t, "coinmarketcap")
	api.set(func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, 200, "application/json", []byte(`{"status":{"error_code":0,"error_message":null},"data":{"5426":{"id":5426,"symbol":"SOLX","quote":{"USD":{"price":1.5}}}}}`))
	})
	l, _, _ := newTestLive(t, oneProvider(api, "k", "SOL-USD"))
	if got := round(t, l); len(got) != 0 {
		t.Errorf("ticks %q, want none", show(got))
	}
}

func TestCoinDeskErr(t *testing.T) {
	tests := []struct {
		name   string
		status int
		file   string
		reason Reason
		msg    string
	}{
		{"Err with 200", 200, "coindesk_err.json", ReasonHTTP4xx, "Err type 1: Not found: instruments parameter"},
		{"Err with 401", 401, "coindesk_unauthorized.json", ReasonAuth, "401 Unauthorized: API key required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, "coindesk")
			api.set(func(w http.ResponseWriter, r *http.Request) {
				writeBody(w, tt.status, "application/json", sample(t, tt.file))
			})
			l, _, _ := newTestLive(t, oneProvider(api, "", "BTC-USD", "XYZ-USD"))
			p, err := fetchOnce(t, l, "BTC-USD", "XYZ-USD")
			if len(p) != 0 || reasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, %v; want a %s error with %q", p, err, tt.reason, tt.msg)
			}
			if api.count() != 1 {
				t.Errorf("%d requests, want 1 (no retry)", api.count())
			}
		})
	}
}

func TestCoinMarketCapKey(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		api := newFakeAPI(t, "coinmarketcap")
		l, _, logs := newTestLive(t, oneProvider(api, "", "BTC-USD"))
		_, err := fetchOnce(t, l, "BTC-USD")
		if reasonOf(err) != ReasonAuth || api.count() != 0 {
			t.Fatalf("err %v after %d requests; want auth and no request", err, api.count())
		}
		if st := l.Stats().Providers[0]; st.Requests != 0 || st.Errors[ReasonAuth] != 1 {
			t.Errorf("stats %+v", st)
		}
		if logs.count("provider needs an API key; it will refuse every call") != 1 {
			t.Errorf("log:\n%s", logs)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		api := newFakeAPI(t, "coinmarketcap")
		api.set(func(w http.ResponseWriter, r *http.Request) {
			writeBody(w, 401, "application/json", sample(t, "coinmarketcap_invalid_key.json"))
		})
		l, _, _ := newTestLive(t, oneProvider(api, "bad-key", "BTC-USD"))
		_, err := fetchOnce(t, l, "BTC-USD")
		if reasonOf(err) != ReasonAuth || !strings.Contains(err.Error(), "This API Key is invalid.") || api.count() != 1 {
			t.Fatalf("err %v after %d requests", err, api.count())
		}
	})
	t.Run("error_code with 200", func(t *testing.T) {
		api := newFakeAPI(t, "coinmarketcap")
		api.set(func(w http.ResponseWriter, r *http.Request) {
			writeBody(w, 200, "application/json", []byte(`{"status":{"error_code":1008,"error_message":"You've exceeded your API Key's HTTP request rate limit."}}`))
		})
		l, _, _ := newTestLive(t, oneProvider(api, "k", "BTC-USD"))
		if _, err := fetchOnce(t, l, "BTC-USD"); reasonOf(err) != ReasonRateLimited {
			t.Fatalf("err %v, want rate_limited", err)
		}
	})
}

// API keys travel in headers only, and appear in no URL, error or log line,
// even when an API echoes them back.
func TestKeysNeverLeak(t *testing.T) {
	const key = "sekret-KEY-4242"
	var cfg LiveConfig
	var apis []*fakeAPI
	for _, name := range ProviderNames() {
		api := newFakeAPI(t, name)
		api.set(func(w http.ResponseWriter, r *http.Request) {
			writeBody(w, 401, "application/json", []byte(`{"message":"key `+key+` is not valid","status":{"error_message":"key `+key+` rejected"},"Err":{"message":"bad key `+key+`"}}`))
		})
		apis = append(apis, api)
		cfg.Providers = append(cfg.Providers, ProviderConfig{Name: name, BaseURL: api.URL, APIKey: key})
	}
	l, clock, logs := newTestLive(t, cfg)
	var errs []string
	for range 7 {
		round(t, l)
		for _, c := range l.chain.chain {
			if _, err := c.fresh(t.Context(), []market.Symbol{"BTC-USD"}); err != nil {
				errs = append(errs, err.Error())
			}
		}
		clock.advance(time.Minute)
	}
	if len(errs) == 0 || logs.count("no provider answers") != 1 {
		t.Fatalf("errors %q; log:\n%s", errs, logs)
	}
	for _, e := range errs {
		if strings.Contains(e, key) {
			t.Errorf("key in error %q", e)
		}
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("key in log:\n%s", logs)
	}
	for _, s := range l.Stats().Symbols {
		if strings.Contains(s.Missing, key) {
			t.Errorf("key in stats: %q", s.Missing)
		}
	}
	for _, api := range apis {
		for _, r := range api.requests() {
			if strings.Contains(r.path+r.query, key) {
				t.Errorf("%s: key in URL %s?%s", api.provider, r.path, r.query)
			}
		}
	}
	if !strings.Contains(strings.Join(errs, "\n"), "[redacted]") {
		t.Errorf("errors %q: want the echoed key redacted", errs)
	}
}

func TestNewLiveErrors(t *testing.T) {
	tests := []struct {
		name string
		pcs  []ProviderConfig
		want string
	}{
		{"unknown", []ProviderConfig{{Name: "binance"}}, `unknown provider "binance"`},
		{"twice", []ProviderConfig{{Name: "coinbase"}, {Name: "Coinbase"}}, "coinbase listed twice"},
		{"bad URL", []ProviderConfig{{Name: "coingecko", BaseURL: "localhost:8080"}}, "want an absolute http or https URL"},
		{"URL with key", []ProviderConfig{{Name: "coingecko", BaseURL: "https://user:sekret@proxy.example"}}, "credentials do not belong in a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLive(LiveConfig{Providers: tt.pcs})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "sekret") {
				t.Errorf("password in error %q", err)
			}
		})
	}
	l, err := NewLive(LiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var names []string
	for _, p := range l.Stats().Providers {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, ProviderNames()) || !slices.Equal(l.Symbols(), market.DefaultSymbols) {
		t.Errorf("defaults: providers %v, symbols %v", names, l.Symbols())
	}
}

func TestReasonsFixed(t *testing.T) {
	want := []Reason{"timeout", "http_4xx", "http_5xx", "rate_limited", "auth", "parse", "network", "breaker_open"}
	if got := Reasons(); !slices.Equal(got, want) || len(got) != numReasons {
		t.Errorf("Reasons() = %v", got)
	}
	if reasonOf(errors.New("x")) != "" {
		t.Error("reasonOf a plain error")
	}
}
