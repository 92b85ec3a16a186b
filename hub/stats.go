// Package hub fans the arena's events out to WebSocket clients: each event
// is encoded once per schema and the same bytes are queued to every client
// that wants it. Every client has a backlog bounded in bytes; a client that cannot
// keep up is disconnected with a close reason that says so, and nobody —
// not the arena, not another client — ever waits for it.
package hub

// Stats are the hub's counters, for metrics. Counters only grow.
type Stats struct {
	Connections int64  // open WebSocket connections now
	Accepted    uint64 // connections upgraded since start
	// Refused counts connections turned away before the upgrade, by
	// reason: "max_conns", "origin", "token".
	Refused map[string]uint64
	// MessagesSent counts messages written to clients (one per frame).
	MessagesSent uint64
	BytesSent    uint64
	// SlowDisconnects counts clients cut as too slow: the ping after their
	// data went unanswered for Config.SlowTimeout, a step did not fit in
	// their backlog's bound (Config.MaxBacklogBytes) or a write timed out.
	SlowDisconnects uint64
	// MessagesDropped counts messages a client will never get because it
	// was cut while they waited in its queue.
	MessagesDropped uint64
	// ProtocolErrors counts client frames answered with an error or a
	// close: malformed JSON, unknown types, oversized frames, floods.
	ProtocolErrors uint64
}

// count adds msgs messages of payload bytes to what was sent.
func (h *Hub) count(msgs, payload int) {
	h.sent.Add(uint64(msgs))
	h.bytes.Add(uint64(payload))
}
