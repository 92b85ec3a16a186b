package main

import (
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/metrics"
)

// The harness reads lineage's own exposition: a gauge, and the delay
// histogram's buckets, whose difference between two scrapes gives the
// window's quantiles as histogram_quantile would.
func TestScrapeReadsLineageHistograms(t *testing.T) {
	var d metrics.Delays
	at := time.Date(2026, 2, 3, 14, 30, 45, 0, time.UTC)
	observe := func(ms ...int) {
		for _, m := range ms {
			d.Observe(at, at.Add(time.Duration(m)*time.Millisecond))
		}
	}
	reg := metrics.NewRegistry(metrics.Sources{
		Arena: func() *arena.Snapshot { return nil },
		NATS: func() metrics.NATSStats {
			return metrics.NATSStats{Published: 1234, PublishDelay: d.Histogram()}
		},
	})
	srv := httptest.NewServer(metrics.Handler(reg, nil))
	defer srv.Close()

	observe(20000, 20000) // before the window: past the last bucket
	s0, err := scrapeMetrics(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for m := 1; m <= 100; m++ {
		observe(m)
	}
	s1, err := scrapeMetrics(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v := s1.value("lineage_nats_published_sequence"); v != 1234 {
		t.Errorf("lineage_nats_published_sequence %v, want 1234", v)
	}
	if v := s1.value("lineage_no_such_family"); !math.IsNaN(v) {
		t.Errorf("an absent sample reads %v, want NaN", v)
	}
	h1, ok1 := s1.histogram("lineage_nats_publish_delay_seconds")
	h0, ok0 := s0.histogram("lineage_nats_publish_delay_seconds")
	if !ok0 || !ok1 {
		t.Fatal("no lineage_nats_publish_delay_seconds histogram")
	}
	if !math.IsInf(h1.Bounds[len(h1.Bounds)-1], 1) || h1.Count != 102 {
		t.Fatalf("histogram %+v: want +Inf last and 102 observations", h1)
	}
	w := h1.minus(h0)
	if w.Count != 100 || w.Counts[len(w.Counts)-1] != 100 || math.Abs(w.Sum-5.05) > 1e-9 {
		t.Fatalf("window %+v: want the 100 observations of 1..100 ms, sum 5.05 s", w)
	}
	// 1..100 ms: the 50th is 50 ms, a bucket bound; the 99th lies between
	// 75 (75 below) and 100 ms (100 below): 75 + 25·24/25 = 99 ms.
	for _, c := range []struct{ q, want float64 }{{0.5, 0.05}, {0.99, 0.099}, {0.01, 0.001}} {
		if got := w.quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	// Before the window, everything lay past 10 s: the last finite bound.
	if got := h0.quantile(0.5); got != 10 {
		t.Errorf("quantile past the last bucket %v, want 10", got)
	}
	if got := (hist{}).quantile(0.5); !math.IsNaN(got) {
		t.Errorf("quantile of nothing %v, want NaN", got)
	}
	if m := h0.plus(w); m.Count != 102 || m.Counts[len(m.Counts)-1] != 102 {
		t.Errorf("plus: %+v, want the 102 observations back", m)
	}
}
