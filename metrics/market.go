package metrics

import (
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/feed"
	"github.com/prometheus/client_golang/prometheus"
)

// collectFeed exports the market-data families. Without a live feed
// (live false) nothing was fetched: the seed families report that honestly
// (see Sources.Feed) and no per-provider series exist.
func (c *collector) collectFeed(ch chan<- prometheus.Metric, st feed.LiveStats, live bool) {
	if !live {
		st = feed.LiveStats{}
	}
	ch <- gauge(c.d.cacheHitRate, st.CacheHitRate())
	ch <- gauge(c.d.requestSuccessRate, st.RequestSuccessRate())
	ch <- counter(c.d.apiErrors, float64(st.ErrorsTotal()))
	count, sum, buckets := latency(st.Providers)
	ch <- prometheus.MustNewConstHistogram(c.d.apiDuration, count, sum, buckets)
	if !live {
		return
	}
	ch <- counter(c.d.marketRounds, float64(st.Rounds))
	ch <- gauge(c.d.marketOffline, boolf(st.Offline))
	for _, p := range st.Providers {
		ch <- counter(c.d.marketRequests, float64(p.Requests), p.Name)
		ch <- counter(c.d.marketFailures, float64(p.Failures), p.Name)
		for _, r := range feed.Reasons() {
			ch <- counter(c.d.marketErrors, float64(p.Errors[r]), p.Name, string(r))
		}
		ch <- counter(c.d.marketCacheRequests, float64(p.CacheHits+p.CacheMisses), p.Name)
		ch <- counter(c.d.marketCacheHits, float64(p.CacheHits), p.Name)
		ch <- counter(c.d.marketStaleServ, float64(p.StaleServed), p.Name)
		ch <- gauge(c.d.marketBreakerOpen, boolf(p.Breaker == feed.BreakerOpen), p.Name)
	}
}

// latency merges the providers' request histograms into one. Providers
// share their bucket bounds; a bound only some providers have still gets
// their counts, and the merged buckets stay cumulative because each
// provider's are.
func latency(ps []feed.ProviderStats) (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = map[float64]uint64{}
	var total time.Duration
	for _, p := range ps {
		h := p.Latency
		count += h.Count
		total += h.Sum
		for i, b := range h.Bounds {
			if i < len(h.Counts) {
				buckets[b.Seconds()] += h.Counts[i]
			}
		}
	}
	return count, total.Seconds(), buckets
}

// collectMarks exports the latest price per symbol as the arena saw it, in
// every feed mode. The last tick's time comes from the live feed when
// there is one (per symbol, so a symbol no provider prices goes stale on
// its own) and otherwise from the arena's last step.
func (c *collector) collectMarks(ch chan<- prometheus.Metric, snap *arena.Snapshot, st feed.LiveStats, live bool) {
	if snap != nil {
		for _, m := range snap.Marks {
			if m.Price <= 0 {
				continue // no tick yet
			}
			sym := string(m.Symbol)
			ch <- gauge(c.d.marketPrice, m.Price.Float64(), sym)
			ch <- gauge(c.d.marketStale, boolf(m.Stale), sym)
			if !live && !snap.Time.IsZero() {
				ch <- gauge(c.d.marketLastTick, unixSeconds(snap.Time), sym)
			}
		}
	}
	if !live {
		return
	}
	for _, s := range st.Symbols {
		if !s.LastTick.IsZero() {
			ch <- gauge(c.d.marketLastTick, unixSeconds(s.LastTick), string(s.Symbol))
		}
	}
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
