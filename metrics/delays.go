package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// delayBounds are the buckets of the delay histograms, in seconds: 1 ms to
// 10 s, six a decade, so that a quantile read from them (histogram_quantile
// interpolates within a bucket) is within half a bucket of the truth.
var delayBounds = [...]float64{
	0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
	0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
	0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
	1, 1.5, 2, 3, 5, 7.5,
	10,
}

// Delays is a histogram of the time between two points of an event's way
// out — its record time in the event log and the point a hook sees it
// (natspub.Config.OnAck, edge.Config.OnDeliver) — in buckets from 1 ms to
// 10 s. The zero value is ready; it is safe for concurrent use.
type Delays struct {
	mu     sync.Mutex
	counts [len(delayBounds)]uint64 // not cumulative: counts[i] has (bounds[i-1], bounds[i]]
	count  uint64
	sum    float64
}

// Observe records to − from. A negative delay — clocks of two machines
// apart — is recorded as 0, in the first bucket. Its signature is the
// hooks': natspub.Config{OnAck: d.Observe}.
func (d *Delays) Observe(from, to time.Time) {
	s := max(to.Sub(from).Seconds(), 0)
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, b := range delayBounds {
		if s <= b {
			d.counts[i]++
			break
		}
	}
	d.count++
	d.sum += s
}

// Histogram returns what was observed so far, cumulative per bound.
func (d *Delays) Histogram() Histogram {
	h := Histogram{Bounds: delayBounds[:], Counts: make([]uint64, len(delayBounds))}
	d.mu.Lock()
	defer d.mu.Unlock()
	var run uint64
	for i, n := range d.counts {
		run += n
		h.Counts[i] = run
	}
	h.Count, h.Sum = d.count, d.sum
	return h
}

// Histogram is a histogram of durations in seconds, in the Prometheus
// layout. Its zero value is an empty histogram.
type Histogram struct {
	Bounds []float64 // upper bounds, seconds, ascending
	Counts []uint64  // cumulative: observations ≤ Bounds[i]
	Count  uint64    // every observation, those past the last bound included
	Sum    float64   // seconds
}

// constHistogram exports h under d; an empty h has the delay buckets,
// all zero, so the family's layout does not change with the first
// observation.
func constHistogram(d *prometheus.Desc, h Histogram) prometheus.Metric {
	if h.Bounds == nil {
		h.Bounds = delayBounds[:]
	}
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = 0
		if i < len(h.Counts) {
			buckets[b] = h.Counts[i]
		}
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}
