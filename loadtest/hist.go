package loadtest

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// hist counts durations in log-linear buckets: exact below 64 µs,
// then 64 buckets per power of two, so a quantile is within 1/64 (1.6 %)
// of the truth. Writers on different shards do not share counters.
type hist struct {
	shards [histShards]histShard
}

const (
	histShards     = 16
	histSubBuckets = 64
	histOctaves    = 40 // up to 2^46 µs
	histBuckets    = histSubBuckets * (histOctaves + 1)
)

type histShard struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64 // µs
}

func bucketOf(us int64) int {
	if us < histSubBuckets {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 7 // us>>e is in [64, 128)
	return min(histSubBuckets*e+int(us>>e), histBuckets-1)
}

// bucketTop is the largest value, in µs, counted in bucket i.
func bucketTop(i int) int64 {
	if i < histSubBuckets {
		return int64(i)
	}
	e := i/histSubBuckets - 1
	m := int64(i%histSubBuckets + histSubBuckets)
	return (m+1)<<e - 1
}

// record counts d on shard k (any int; clients use their index).
func (h *hist) record(k int, d time.Duration) {
	s := &h.shards[k%histShards]
	us := max(int64(d/time.Microsecond), 0)
	s.counts[bucketOf(us)].Add(1)
	for {
		m := s.max.Load()
		if us <= m || s.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// summary is nil when nothing was recorded. Quantiles are the top of
// their bucket, never above the maximum, which is exact.
func (h *hist) summary() *Latency {
	var counts [histBuckets]uint64
	var n uint64
	var top int64
	for i := range h.shards {
		s := &h.shards[i]
		for j := range counts {
			c := s.counts[j].Load()
			counts[j] += c
			n += c
		}
		top = max(top, s.max.Load())
	}
	if n == 0 {
		return nil
	}
	q := func(f float64) float64 {
		rank := uint64(f*float64(n) + 0.999999)
		var seen uint64
		for i, c := range counts {
			if seen += c; seen >= max(rank, 1) {
				return usToMs(min(bucketTop(i), top))
			}
		}
		return usToMs(top)
	}
	return &Latency{Samples: n, P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: usToMs(top)}
}

func usToMs(us int64) float64 { return round3(float64(us) / 1000) }

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
