package hub

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/internal/wsframe"
	"github.com/lineage-arena/lineage/market"
)

// client is one WebSocket connection. One goroutine at a time writes to
// it — the writer, started when there is something to write and ending
// when its queue is empty (draining says one is running) — so a slow
// client only ever holds up itself. Its frames are read by the hub's
// poller, or by a goroutine of its own where the poller cannot read it
// (TLS, systems without epoll); see conn.go.
type client struct {
	hub    *Hub
	nc     net.Conn
	id     uint64
	schema Schema
	since  uint64
	resume bool

	closing atomic.Bool // a close frame is on its way: inbound frames are ignored
	ended   atomic.Bool // the connection is closed and forgotten

	// the socket itself, on TCP (nil over TLS): the fan-out writes to it
	// without waiting, and the poller reads it (polled) as epoll's fd in
	// slot of its table
	rc     syscall.RawConn
	fd     int
	slot   int32
	polled bool

	mu         sync.Mutex
	queue      [][]byte
	queued     int    // bytes in queue: at most Config.MaxBacklogBytes
	draining   bool   // a writer is running: it alone writes to the socket
	catchingUp bool   // welcome and snapshot or history first; live events wait
	shutdown   bool   // the hub is closing: 1001 once the queue is written
	closeMsg   []byte // a close frame left for the running writer to send
	gone       bool
	slow       bool // counted as a slow disconnect (once)
	filter     *filter

	// the reader's own: its frame parser, whether it has stopped taking
	// frames (after the client's close frame or a protocol error), and the
	// inbound rate limit
	rd       wsframe.Reader
	readDone bool
	tokens   float64
	lastFill time.Time

	// liveness, guarded by mu: every ping the hub writes carries a
	// number its pong must echo. pingAt is when the unanswered ping was
	// written (zero: none is out), pingData that data went before it,
	// lastPing when the last ping was written, pingQueued that the
	// writer is to send one, and unackedAt when the first data written
	// since the last ping went out (zero: none). probed says the socket
	// was looked at for that data (ackDueLocked), and unsent what it said.
	pingN      uint32
	pingAt     time.Time
	pingData   bool
	lastPing   time.Time
	pingQueued bool
	unackedAt  time.Time
	probed     bool
	unsent     bool

	// how far behind the live sequence, guarded by mu: the last event
	// queued, handed to the writer, covered by the ping out, and known
	// read (its ping answered)
	queuedSeq, sentSeq, pingSeq, readSeq uint64

	// the writer's own
	pingBuf  [6]byte
	deadline time.Time // the write deadline last set on the socket
}

// tick runs every checkEvery for every client. A ping unanswered for
// SlowTimeout cuts the client as too slow when data went before it (the
// data is still unread), and closes it as gone when it was idle.
// Otherwise, it asks for a ping to a client whose data is due for one
// (ackDueLocked), or that has not been pinged for PingInterval, and
// reports whether the caller must start c's writer (drainNow or drain).
// The caller holds the hub's lock (read).
func (c *client) tick(now time.Time) (start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hub
	switch {
	case c.gone || c.pingQueued:
	case !c.pingAt.IsZero():
		switch {
		case now.Sub(c.pingAt) < h.cfg.SlowTimeout:
		case c.pingData:
			c.cutLocked(fmt.Sprintf("too slow: %d events behind, unread for %s", h.lastSeq-min(c.readSeq, h.lastSeq), h.cfg.SlowTimeout))
		default: // an idle client that does not answer is gone
			c.dropLocked()
			h.cfg.Logger.Info("client gone", "client", c.id, "reason", "no pong")
			go c.close(1001, fmt.Sprintf("no answer to a ping for %s", h.cfg.SlowTimeout))
		}
	case c.ackDueLocked(now), now.Sub(c.lastPing) >= h.cfg.PingInterval:
		c.pingQueued = true
		return c.claimLocked()
	}
	return false
}

// outqOf is outq; tests over pipes, which have no socket to look at,
// replace it.
var outqOf = outq

// ackDueLocked reports whether data written to c and not yet covered by a
// ping is due for one at now: once it has waited ackMax, or ackDelay when
// c's socket still holds some of it unacknowledged by the client's kernel
// (or cannot say). The socket is looked at once per such data.
func (c *client) ackDueLocked(now time.Time) bool {
	if c.unackedAt.IsZero() {
		return false
	}
	switch age := now.Sub(c.unackedAt); {
	case age >= ackMax:
		return true
	case age < ackDelay:
		return false
	case !c.probed:
		n, ok := outqOf(c.rc)
		c.probed, c.unsent = true, !ok || n > 0
	}
	return c.unsent
}

// claimLocked makes the caller c's writer, unless one is running or c is
// gone; the caller must then run drain (or write and then drain).
func (c *client) claimLocked() bool {
	if c.draining || c.catchingUp || c.gone {
		return false
	}
	c.draining = true
	return true
}

// pong takes a pong: the one for the ping out means the client has read
// everything written before that ping.
func (c *client) pong(p []byte) {
	if len(p) != 4 {
		return
	}
	c.mu.Lock()
	if !c.pingAt.IsZero() && binary.BigEndian.Uint32(p) == c.pingN {
		c.pingAt = time.Time{}
		c.readSeq = max(c.readSeq, c.pingSeq)
	}
	c.mu.Unlock()
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

// offer queues for c the events its subscription wants, as framed (event
// index, c's schema) gives them, under one acquisition of c's lock: this
// runs for every client and every batch of events. The batch is a step:
// it is queued whole, or, when it does not fit in MaxBacklogBytes beside
// what already waits, c is cut and gets none of it. It reports whether
// c's write task must be started.
func (c *client) offer(events []arena.Event, framed func(int, Schema) []byte) (start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false
	}
	bound, n0, step := c.hub.cfg.MaxBacklogBytes, len(c.queue), 0
	for i := range events {
		if !c.filter.wants(&events[i]) {
			continue
		}
		f := framed(i, c.schema)
		if f == nil {
			continue
		}
		step += len(f)
		if c.queued+step > bound {
			for j := i + 1; j < len(events); j++ { // the whole step's size, for the reason
				if c.filter.wants(&events[j]) {
					step += len(framed(j, c.schema))
				}
			}
			c.queue = c.queue[:n0]
			c.cutLocked(fmt.Sprintf("too slow: a step of %d bytes does not fit beside %d waiting (bound %d)", step, c.queued, bound))
			return false
		}
		c.queue = append(c.queue, f)
	}
	if len(c.queue) == n0 {
		return false
	}
	c.queued += step
	c.queuedSeq = events[len(events)-1].Seq
	return c.claimLocked()
}

// send queues v as a message.
func (c *client) send(v any) {
	f := frame(mustJSON(v))
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		c.sendLocked(f)
	}
}

// sendLocked queues the frame f. A backlog past its bound means the client
// cannot keep up: it is cut.
func (c *client) sendLocked(f []byte) {
	if c.queueLocked(f) {
		go c.drain()
	}
}

// queueLocked queues the frame f and reports whether the caller must
// start c's writer (go c.drain()). A backlog past MaxBacklogBytes means
// the client cannot keep up: it is cut.
func (c *client) queueLocked(f []byte) bool {
	if bound := c.hub.cfg.MaxBacklogBytes; c.queued+len(f) > bound {
		c.cutLocked(fmt.Sprintf("too slow: %d bytes waiting (bound %d)", c.queued, bound))
		return false
	}
	c.queue = append(c.queue, f)
	c.queued += len(f)
	return c.claimLocked()
}

// cutLocked disconnects a slow client; called with c.mu held. The close
// runs on a goroutine of its own: the client's writer may be stuck.
func (c *client) cutLocked(reason string) {
	c.markSlowLocked(reason)
	go c.close(1008, reason)
}

// markSlowLocked counts c as cut for being slow, once, and drops its queue.
func (c *client) markSlowLocked(reason string) {
	c.dropLocked()
	if !c.slow {
		c.slow = true
		c.hub.slow.Add(1)
		c.hub.cfg.Logger.Info("slow client cut", "client", c.id, "reason", reason)
	}
}

// inbound handles a client message. Errors are answered, and the
// connection stays up. (Its frames were admitted by the rate limit.)
func (c *client) inbound(op ws.OpCode, data []byte) {
	if op != ws.OpText {
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
		c.send(infoMsg{Type: "pong"})
	case "subscribe":
		f, err := newFilter(m.Symbols, m.Agents, m.Events)
		if err != nil {
			c.reply(infoMsg{Type: "error", Code: "subscribe", Message: err.Error()})
			return
		}
		c.mu.Lock()
		c.filter = f
		c.mu.Unlock()
		c.send(infoMsg{Type: "subscribed", Message: "filters set"})
	default:
		c.reply(infoMsg{Type: "error", Code: "unknown_type",
			Message: fmt.Sprintf("unknown message type %q; send subscribe, ping or heartbeat", m.Type)})
	}
}

// admit takes a token from c's inbound rate limit for one frame, or
// refuses it as a flood (the connection is then closed with 1008). Every
// frame costs a token — messages, each fragment of one, pings, pongs,
// close frames, empty or not — since every one costs the hub a read and a
// parse, and one that is free could be sent without end. Only c's reader
// calls it.
func (c *client) admit() *wsframe.ProtocolError {
	now := c.hub.cfg.Now()
	c.tokens = min(InboundBurst, c.tokens+now.Sub(c.lastFill).Seconds()*InboundRate)
	c.lastFill = now
	if c.tokens < 1 {
		return &wsframe.ProtocolError{Code: ws.StatusPolicyViolation, Reason: floodReason}
	}
	c.tokens--
	return nil
}

// floodReason is the close reason of a client over the inbound rate limit.
var floodReason = fmt.Sprintf("flood: more than %d frames per second", InboundRate)

func (c *client) reply(m infoMsg) {
	c.hub.protoErrs.Add(1)
	c.send(m)
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

// drop forgets the queue of a closed connection.
func (c *client) drop() {
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
}

// dropLocked marks c gone and counts what waited in its queue as dropped.
func (c *client) dropLocked() {
	if !c.gone {
		c.hub.dropped.Add(uint64(len(c.queue)))
	}
	c.gone = true
	c.queue, c.queued = nil, 0
}
