package cli

import (
	"context"
	"strings"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

func joinSymbols(syms []market.Symbol) string {
	parts := make([]string, len(syms))
	for i, s := range syms {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func intersect(have, want []market.Symbol) []market.Symbol {
	var out []market.Symbol
	for _, h := range have {
		for _, w := range want {
			if h == w {
				out = append(out, h)
			}
		}
	}
	return out
}

// symbolFilter drops ticks of symbols the arena does not trade.
type symbolFilter struct {
	src  arena.TickSource
	keep []market.Symbol
}

func (f *symbolFilter) Next(ctx context.Context) (market.Tick, error) {
	for {
		tk, err := f.src.Next(ctx)
		if err != nil {
			return tk, err
		}
		for _, k := range f.keep {
			if tk.Symbol == k {
				return tk, nil
			}
		}
	}
}

// apiKeyEnv names the environment variable of each provider's API key.
// Keys come from the environment only, never from a flag (flags show up
// in process listings) and never in a log line.
var apiKeyEnv = map[string]string{
	"coingecko":     "COINGECKO_API_KEY",
	"coindesk":      "COINDESK_API_KEY",
	"coinmarketcap": "COINMARKETCAP_API_KEY",
}

// openLive builds the live feed from --providers, the --*-url flags and
// the API keys in the environment.
// CoinMarketCap answers nothing without a key: left out of the default
// list when COINMARKETCAP_API_KEY is unset, and a usage error when named.
func (f *arenaFlags) openLive(syms []market.Symbol, seed uint64, env *cmdEnv, explicit bool) (*feed.Live, error) {
	var provs []feed.ProviderConfig
	for name := range strings.SplitSeq(f.providers, ",") {
		name = strings.TrimSpace(strings.ToLower(name))
		if name == "" {
			continue
		}
		if _, ok := f.urls[name]; !ok {
			return nil, usagef("--providers: unknown provider %q (known: %s)", name, strings.Join(feed.ProviderNames(), ", "))
		}
		p := feed.ProviderConfig{Name: name, BaseURL: *f.urls[name]}
		if k := apiKeyEnv[name]; k != "" {
			p.APIKey = env.Getenv(k)
		}
		if name == "coinmarketcap" && p.APIKey == "" {
			if explicit {
				return nil, usagef("--providers: coinmarketcap needs an API key in COINMARKETCAP_API_KEY")
			}
			continue
		}
		provs = append(provs, p)
	}
	if len(provs) == 0 {
		return nil, usagef("--providers: no provider")
	}
	live, err := feed.NewLive(feed.LiveConfig{
		Symbols: syms, Providers: provs, Interval: f.interval, Seed: seed, Logger: env.Logger(),
	})
	if err != nil {
		return nil, usagef("--feed live: %v", err)
	}
	return live, nil
}
