package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// client is one WebSocket connection. Its writes run on the connection's
// own write queue (gws runs one task at a time per connection, on a
// goroutine that exists only while there is work), so a slow client only
// ever holds up itself.
type client struct {
	hub    *Hub
	conn   *gws.Conn
	id     uint64
	schema Schema
	since  uint64
	resume bool

	mu         sync.Mutex
	queue      [][]byte
	draining   bool // a drain task is scheduled or running
	catchingUp bool // welcome and snapshot or history first; live events wait
	gone       bool
	slow       bool // counted as a slow disconnect (once)
	filter     *filter

	// inbound rate limit, touched only by the read loop
	tokens   float64
	lastFill time.Time

	// stall detection: written counts the frame bytes handed to the
	// socket (atomically, by the writer); the rest is the stall checker's.
	written      atomic.Int64
	lastProgress int64
	stallSince   time.Time
}

// checkStall cuts c when data has waited in its socket for StallTimeout
// with none of it acknowledged: written − unsent is what the client has
// taken, and it has not moved.
func (c *client) checkStall(now time.Time) {
	q, ok := unsent(c.conn.NetConn())
	if !ok {
		return
	}
	progress := c.written.Load() - int64(q)
	if q == 0 || progress != c.lastProgress || c.stallSince.IsZero() {
		c.lastProgress, c.stallSince = progress, now
		return
	}
	if now.Sub(c.stallSince) >= StallTimeout {
		c.mu.Lock()
		if !c.gone {
			c.cutLocked(fmt.Sprintf("too slow: nothing read for %s", StallTimeout))
		}
		c.mu.Unlock()
	}
}

// frameSize is the size on the wire of a server frame of n payload bytes.
func frameSize(n int) int64 {
	switch {
	case n < 126:
		return int64(n) + 2
	case n <= 0xffff:
		return int64(n) + 4
	}
	return int64(n) + 10
}

// filter is a client's subscription; nil sets mean everything.
type filter struct {
	symbols map[market.Symbol]bool
	agents  map[string]bool
	events  map[arena.EventType]bool
}

// wants reports whether c's subscription lets e through.
func (c *client) wants(e *arena.Event) bool {
	c.mu.Lock()
	f := c.filter
	c.mu.Unlock()
	return f.wants(e)
}

// wants reports whether e passes f; a nil filter passes everything.
func (f *filter) wants(e *arena.Event) bool {
	if f == nil {
		return true
	}
	if f.events != nil && !f.events[e.Type] {
		return false
	}
	var sym market.Symbol
	var agents [2]string // the event's agents, at most two; "" for none
	switch {
	case e.Market != nil:
		sym = e.Market.Symbol
	case e.Agent != nil:
		agents[0] = e.Agent.ID
	case e.Trade != nil:
		sym, agents[0] = e.Trade.Symbol, e.Trade.Agent
	case e.Scar != nil:
		agents[0] = e.Scar.Agent
	case e.Death != nil:
		agents[0] = e.Death.Agent
	case e.Spawn != nil:
		agents = [2]string{e.Spawn.Parent, e.Spawn.Child}
	}
	if f.symbols != nil && sym != "" && !f.symbols[sym] {
		return false
	}
	if f.agents != nil && agents[0] != "" && !f.agents[agents[0]] && (agents[1] == "" || !f.agents[agents[1]]) {
		return false
	}
	return true
}

// offer queues e for c if its subscription wants it, encoded by encode in
// c's schema, under one acquisition of c's lock: this runs for every
// client and every event.
func (c *client) offer(e *arena.Event, encode func(Schema) []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || !c.filter.wants(e) {
		return
	}
	if b := encode(c.schema); b != nil {
		c.sendLocked(b)
	}
}

// send queues b. A full queue means the client cannot keep up: it is cut.
func (c *client) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		c.sendLocked(b)
	}
}

func (c *client) sendLocked(b []byte) {
	if len(c.queue) >= QueueBound {
		c.cutLocked(fmt.Sprintf("too slow: %d messages waiting", len(c.queue)))
		return
	}
	c.queue = append(c.queue, b)
	if !c.draining && !c.catchingUp {
		c.draining = true
		c.conn.Async(c.drain)
	}
}

// cutLocked disconnects a slow client; called with c.mu held. The close
// runs on a goroutine of its own: the client's writer may be stuck.
func (c *client) cutLocked(reason string) {
	c.markSlowLocked(reason)
	go c.close(1008, reason)
}

// markSlowLocked counts c as cut for being slow, once, and drops its queue.
func (c *client) markSlowLocked(reason string) {
	c.gone = true
	c.hub.dropped.Add(uint64(len(c.queue)))
	c.queue = nil
	if !c.slow {
		c.slow = true
		c.hub.slow.Add(1)
		c.hub.cfg.Logger.Info("slow client cut", "client", c.id, "reason", reason)
	}
}

// drain writes what is queued, batch by batch, until the queue is empty.
// It runs on the connection's write queue.
func (c *client) drain() {
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 || c.gone {
			c.draining = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if !c.write(batch...) {
			return
		}
	}
}

// write sends frames under the write timeout; a timeout cuts the client.
func (c *client) write(frames ...[]byte) bool {
	c.conn.SetWriteDeadline(c.hub.cfg.Now().Add(c.hub.cfg.WriteTimeout))
	for _, b := range frames {
		if err := c.conn.WriteMessage(gws.OpcodeText, b); err != nil {
			// A timed-out write has already closed the connection (gws
			// does on any write error), perhaps before this runs: count
			// the cut whatever the order.
			c.mu.Lock()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.markSlowLocked("too slow: a write timed out")
			}
			c.gone = true
			c.draining = false
			c.mu.Unlock()
			return false
		}
		c.hub.sent.Add(1)
		c.hub.bytes.Add(uint64(len(b)))
		c.written.Add(frameSize(len(b)))
	}
	return true
}

// start welcomes the client, then sends the history it asked for or the
// current state, then lets its live queue flow. last is the sequence of
// the last event published before the client joined: the history covers
// up to it, and the queue holds everything after it.
func (c *client) start(last uint64, snap *arena.Snapshot) {
	h := c.hub
	ok := c.write(mustJSON(welcomeMsg{Type: "welcome", ClientID: c.id, Timestamp: h.cfg.Now().UTC(), Message: WelcomeText, Sequence: last}))
	if ok && c.resume {
		ok = c.replay(last, snap)
	} else if ok {
		ok = c.snapshot(last, snap)
	}
	if !ok {
		return
	}
	c.mu.Lock()
	c.catchingUp = false
	c.draining = true
	c.mu.Unlock()
	c.drain()
}

func (c *client) replay(last uint64, snap *arena.Snapshot) bool {
	h := c.hub
	if h.cfg.History == nil {
		return c.write(mustJSON(infoMsg{Type: "resume", Code: "unavailable", Message: "this server keeps no history to resume from; sending the current state", Sequence: last})) &&
			c.snapshot(last, snap)
	}
	from := c.since + 1
	switch oldest := h.cfg.History.Oldest(); {
	case c.since > last:
		return c.write(mustJSON(infoMsg{Type: "resume", Code: "ahead", Sequence: last,
			Message: fmt.Sprintf("since=%d is ahead of the server's last sequence %d; streaming live from here", c.since, last)}))
	case from < oldest:
		if !c.write(mustJSON(infoMsg{Type: "resume", Code: "truncated", From: oldest, To: last, Sequence: last,
			Message: fmt.Sprintf("events %d to %d are no longer kept; resuming from %d", from, oldest-1, oldest)})) {
			return false
		}
		from = oldest
	}
	ok := true
	err := h.cfg.History.Replay(from, last+1, func(e arena.Event) error {
		if !c.wants(&e) {
			return nil
		}
		b, err := c.encode(&e, false)
		if err != nil {
			return err
		}
		if ok = c.write(b); !ok {
			return errGone
		}
		return nil
	})
	if err != nil && ok {
		h.cfg.Logger.Error("resume", "client", c.id, "err", err)
		c.close(1011, "cannot read history")
		return false
	}
	return ok
}

var errGone = fmt.Errorf("client gone")

// snapshot sends the latest price of every symbol and the state of every
// agent as they stood after event last, marked "snapshot":true, so a fresh
// dashboard is never blank.
func (c *client) snapshot(last uint64, s *arena.Snapshot) bool {
	if s == nil {
		return true
	}
	var frames [][]byte
	add := func(e arena.Event) {
		if c.wants(&e) {
			if b, err := c.encode(&e, true); err == nil {
				frames = append(frames, b)
			}
		}
	}
	for i := range s.Marks {
		if s.Marks[i].Price > 0 {
			add(arena.Event{Seq: last, Time: s.Time, Type: arena.EventMarket, Market: &s.Marks[i]})
		}
	}
	for i := range s.Agents {
		add(arena.Event{Seq: last, Time: s.Time, Type: arena.EventAgent, Agent: &s.Agents[i]})
	}
	return c.write(frames...)
}

func (c *client) encode(e *arena.Event, snapshot bool) ([]byte, error) {
	if c.schema == V2 {
		return encodeV2(e)
	}
	return encodeV1(e, snapshot)
}

// inbound handles a client frame. Errors are answered, and the connection
// stays up; floods close it with 1008.
func (c *client) inbound(op gws.Opcode, data []byte) {
	h := c.hub
	now := h.cfg.Now()
	c.tokens = min(InboundBurst, c.tokens+now.Sub(c.lastFill).Seconds()*InboundRate)
	c.lastFill = now
	if c.tokens < 1 {
		h.protoErrs.Add(1)
		c.close(1008, fmt.Sprintf("flood: more than %d messages per second", InboundRate))
		return
	}
	c.tokens--
	if op != gws.OpcodeText {
		c.reply(infoMsg{Type: "error", Code: "binary", Message: "binary frames are not understood; send JSON text"})
		return
	}
	var m struct {
		Type    string   `json:"type"`
		Symbols []string `json:"symbols"`
		Agents  []string `json:"agents"`
		Events  []string `json:"events"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		c.reply(infoMsg{Type: "error", Code: "malformed", Message: "malformed JSON: " + err.Error()})
		return
	}
	switch m.Type {
	case "ping", "heartbeat":
		c.send(mustJSON(infoMsg{Type: "pong"}))
	case "subscribe":
		f, err := newFilter(m.Symbols, m.Agents, m.Events)
		if err != nil {
			c.reply(infoMsg{Type: "error", Code: "subscribe", Message: err.Error()})
			return
		}
		c.mu.Lock()
		c.filter = f
		c.mu.Unlock()
		c.send(mustJSON(infoMsg{Type: "subscribed", Message: "filters set"}))
	default:
		c.reply(infoMsg{Type: "error", Code: "unknown_type",
			Message: fmt.Sprintf("unknown message type %q; send subscribe, ping or heartbeat", m.Type)})
	}
}

func (c *client) reply(m infoMsg) {
	c.hub.protoErrs.Add(1)
	c.send(mustJSON(m))
}

func newFilter(symbols, agents, events []string) (*filter, error) {
	f := &filter{}
	if len(symbols) > 0 {
		f.symbols = map[market.Symbol]bool{}
		for _, s := range symbols {
			sym, err := market.ParseSymbol(s)
			if err != nil {
				return nil, err
			}
			f.symbols[sym] = true
		}
	}
	if len(agents) > 0 {
		f.agents = map[string]bool{}
		for _, a := range agents {
			f.agents[a] = true
		}
	}
	if len(events) > 0 {
		f.events = map[arena.EventType]bool{}
		for _, e := range events {
			t := arena.EventType(e)
			switch t {
			case arena.EventMarket, arena.EventAgent, arena.EventTrade, arena.EventScar, arena.EventDeath, arena.EventSpawn, arena.EventRound:
				f.events[t] = true
			default:
				return nil, fmt.Errorf("unknown event type %q", e)
			}
		}
	}
	return f, nil
}

func (c *client) alive() {
	c.conn.SetReadDeadline(c.hub.cfg.Now().Add(c.hub.cfg.PingInterval * 5 / 2))
}

// ping sends a ping frame under a fresh write deadline: the deadline of
// the last data write has long passed on an idle connection.
func (c *client) ping() {
	c.conn.Async(func() {
		c.conn.SetWriteDeadline(c.hub.cfg.Now().Add(c.hub.cfg.WriteTimeout))
		c.conn.WritePing(nil)
	})
}

// drop forgets the queue of a closed connection.
func (c *client) drop() {
	c.mu.Lock()
	if !c.gone {
		c.hub.dropped.Add(uint64(len(c.queue)))
	}
	c.gone = true
	c.queue = nil
	c.mu.Unlock()
}

// close sends a close frame with code and reason and closes the
// connection; a client that does not take the frame within a second is
// disconnected all the same.
func (c *client) close(code uint16, reason string) {
	c.conn.SetWriteDeadline(c.hub.cfg.Now().Add(time.Second))
	c.conn.WriteClose(code, []byte(reason))
	c.conn.NetConn().Close()
}
