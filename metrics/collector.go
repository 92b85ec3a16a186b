package metrics

import (
	"github.com/lineage-arena/lineage/feed"
	"github.com/prometheus/client_golang/prometheus"
)

// collector reads Sources at every scrape and turns them into const
// metrics. It keeps no state between scrapes, so it is safe for
// concurrent scrapes and a dead agent's series simply stop appearing.
type collector struct {
	src Sources
	d   descs
}

// NewCollector returns a Collector of every lineage_ family except
// lineage_build_info (NewRegistry adds that one). Register it in a registry
// of your own; the package registers nothing globally. It panics if
// src.Arena is nil: that is a wiring mistake, not a state to report.
func NewCollector(src Sources) prometheus.Collector {
	if src.Arena == nil {
		panic("metrics: NewCollector: Sources.Arena is nil")
	}
	return &collector{src: src.withDefaults(), d: newDescs()}
}

// Describe sends the descriptor of every family the collector may export.
// A family whose source is absent (no live feed, no hub, no log) is
// described all the same and simply has no samples.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect reads every source once and sends the metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	now := c.src.Now()
	ch <- gauge(c.d.uptime, now.Sub(c.src.Start).Seconds())
	snap := c.src.Arena()
	c.collectArena(ch, snap)
	var (
		st   feed.LiveStats
		live bool
	)
	if c.src.Feed != nil {
		st, live = c.src.Feed()
	}
	c.collectFeed(ch, st, live)
	c.collectMarks(ch, snap, st, live)
	c.collectHub(ch)
	c.collectLog(ch)
	c.collectNATS(ch)
	c.collectEdge(ch)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
