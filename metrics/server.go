package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// refusals are the hub's documented reasons for turning a connection away;
// each is always exported, zeros included.
var refusals = []string{"max_conns", "origin", "token"}

// collectHub exports the WebSocket families. Without a hub the seed
// families report no connection and no message.
func (c *collector) collectHub(ch chan<- prometheus.Metric) {
	if c.src.Hub == nil {
		ch <- gauge(c.d.activeConnections, 0)
		ch <- counter(c.d.messagesBroadcast, 0)
		return
	}
	st := c.src.Hub()
	ch <- gauge(c.d.activeConnections, float64(st.Connections))
	ch <- counter(c.d.messagesBroadcast, float64(st.MessagesSent))
	ch <- counter(c.d.wsAccepted, float64(st.Accepted))
	for _, r := range refusals {
		ch <- counter(c.d.wsRefused, float64(st.Refused[r]), r)
	}
	for _, r := range sortedKeys(st.Refused) {
		if !slices.Contains(refusals, r) {
			ch <- counter(c.d.wsRefused, float64(st.Refused[r]), r)
		}
	}
	ch <- counter(c.d.wsSentBytes, float64(st.BytesSent))
	ch <- counter(c.d.wsSlow, float64(st.SlowDisconnects))
	ch <- counter(c.d.wsDropped, float64(st.MessagesDropped))
	ch <- counter(c.d.wsProtocolErrors, float64(st.ProtocolErrors))
}

// collectLog exports the event log families, when there is a log.
func (c *collector) collectLog(ch chan<- prometheus.Metric) {
	if c.src.Log == nil {
		return
	}
	st := c.src.Log()
	h := st.SyncSeconds
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			buckets[b] = h.Counts[i]
		}
	}
	ch <- prometheus.MustNewConstHistogram(c.d.logAppendDuration, h.Count, h.Sum, buckets)
	ch <- gauge(c.d.logRecords, float64(st.Records))
	ch <- gauge(c.d.logDurable, float64(st.Durable))
	ch <- counter(c.d.logAppends, float64(st.Appends))
	ch <- counter(c.d.logBytes, float64(st.Bytes))
	ch <- gauge(c.d.logSegments, float64(st.Segments))
	ch <- gauge(c.d.logFailed, boolf(st.Failed))
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
