package metrics

import "github.com/prometheus/client_golang/prometheus"

// NATSStats are the counters of the JetStream publisher of `lineage serve
// --nats-url` (natspub.Stats, copied by the caller: the metrics do not
// import the publisher).
type NATSStats struct {
	// Published is the last sequence known to be in the stream; Lag is the
	// log's last durable event minus it.
	Published, Lag uint64
	// Batches counts the atomic batches committed, PublishErrors the failed
	// publishes and reconciliations, Snapshots the snapshots written.
	Batches, PublishErrors, Snapshots uint64
	// Diverged is set once the stream differs from the log.
	Diverged bool
	// PublishDelay is the time from a batch's first event's record time
	// (the engine's commit) to JetStream's acknowledgement of the batch,
	// one observation a batch (a Delays fed by natspub.Config.OnAck).
	PublishDelay Histogram
}

// EdgeStats are the counters of a `lineage edge` (edge.Stats, copied by
// the caller).
type EdgeStats struct {
	// Delivered is the last sequence handed to the edge's clients; Lag is
	// the stream's last known sequence minus it.
	Delivered, Lag uint64
	// ConsumerResets counts the times the edge read the stream anew,
	// ChainFailures the messages that did not verify.
	ConsumerResets, ChainFailures uint64
	// DeliveryDelay is the time from a batch's first event's record time
	// (the engine's commit, on the engine's clock) to the edge handing the
	// batch to its hub, one observation a batch (a Delays fed by
	// edge.Config.OnDeliver).
	DeliveryDelay Histogram
}

// collectNATS exports the publisher families, when there is a publisher.
func (c *collector) collectNATS(ch chan<- prometheus.Metric) {
	if c.src.NATS == nil {
		return
	}
	st := c.src.NATS()
	ch <- gauge(c.d.natsPublished, float64(st.Published))
	ch <- gauge(c.d.natsLag, float64(st.Lag))
	ch <- counter(c.d.natsErrors, float64(st.PublishErrors))
	ch <- counter(c.d.natsBatches, float64(st.Batches))
	ch <- gauge(c.d.natsDiverged, boolf(st.Diverged))
	ch <- counter(c.d.natsSnapshots, float64(st.Snapshots))
	ch <- constHistogram(c.d.natsPublishDelay, st.PublishDelay)
}

// collectEdge exports the edge families, when the process is an edge.
func (c *collector) collectEdge(ch chan<- prometheus.Metric) {
	if c.src.Edge == nil {
		return
	}
	st := c.src.Edge()
	ch <- gauge(c.d.edgeLag, float64(st.Lag))
	ch <- gauge(c.d.edgeDelivered, float64(st.Delivered))
	ch <- counter(c.d.edgeResets, float64(st.ConsumerResets))
	ch <- counter(c.d.edgeChainFailures, float64(st.ChainFailures))
	ch <- constHistogram(c.d.edgeDeliveryDelay, st.DeliveryDelay)
}
