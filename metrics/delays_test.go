package metrics_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/metrics"
)

// TestDelaysBuckets: each delay lands in the first bucket whose bound is at
// least it, counts are cumulative, a negative delay counts as 0 and one past
// the last bound only in Count and Sum.
func TestDelaysBuckets(t *testing.T) {
	var d metrics.Delays
	at := time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC)
	for _, ms := range []int{-5, 1, 2, 4, 1000, 11000} {
		d.Observe(at, at.Add(time.Duration(ms)*time.Millisecond))
	}
	h := d.Histogram()
	if len(h.Bounds) != len(h.Counts) || h.Bounds[0] != 0.001 || h.Bounds[len(h.Bounds)-1] != 10 {
		t.Fatalf("bounds %v, %d counts: want 1 ms to 10 s, one count each", h.Bounds, len(h.Counts))
	}
	want := map[float64]uint64{0.001: 2, 0.0015: 2, 0.002: 3, 0.003: 3, 0.005: 4, 0.75: 4, 1: 5, 7.5: 5, 10: 5}
	for i, b := range h.Bounds {
		if w, ok := want[b]; ok && h.Counts[i] != w {
			t.Errorf("bucket le=%g: %d, want %d", b, h.Counts[i], w)
		}
		if i > 0 && h.Counts[i] < h.Counts[i-1] {
			t.Errorf("bucket le=%g: %d, below the one before (%d): not cumulative", b, h.Counts[i], h.Counts[i-1])
		}
	}
	if h.Count != 6 {
		t.Errorf("count %d, want 6", h.Count)
	}
	if wantSum := 0.001 + 0.002 + 0.004 + 1 + 11; math.Abs(h.Sum-wantSum) > 1e-9 {
		t.Errorf("sum %g, want %g", h.Sum, wantSum)
	}
}

// TestDelaysConcurrent: observations from several goroutines are all
// counted (and -race finds no race between Observe and Histogram).
func TestDelaysConcurrent(t *testing.T) {
	var d metrics.Delays
	at := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				d.Observe(at, at.Add(3*time.Millisecond))
				_ = d.Histogram()
			}
		})
	}
	wg.Wait()
	if h := d.Histogram(); h.Count != 4000 || h.Counts[len(h.Counts)-1] != 4000 {
		t.Errorf("count %d, last bucket %d: want 4000", h.Count, h.Counts[len(h.Counts)-1])
	}
}
