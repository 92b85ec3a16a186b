package hub

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
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
	// since the last ping went out (zero: none).
	pingN      uint32
	pingAt     time.Time
	pingData   bool
	lastPing   time.Time
	pingQueued bool
	unackedAt  time.Time

	// the writer's own
	pingBuf  [6]byte
	deadline time.Time // the write deadline last set on the socket
}

// tick runs every checkEvery for every client. A ping unanswered for
// PongTimeout cuts the client as too slow when data went before it (the
// data is still unread), and closes it as gone when it was idle.
// Otherwise, it asks for a ping to a client whose data has gone
// unacknowledged for ackDelay, or that has not been pinged for
// PingInterval, and reports whether the caller must start c's writer
// (drainNow or drain).
func (c *client) tick(now time.Time) (start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.gone || c.pingQueued:
	case !c.pingAt.IsZero():
		switch {
		case now.Sub(c.pingAt) < PongTimeout:
		case c.pingData:
			c.cutLocked(fmt.Sprintf("too slow: a ping went unanswered for %s", PongTimeout))
		default: // an idle client that does not answer is gone
			c.dropLocked()
			c.hub.cfg.Logger.Info("client gone", "client", c.id, "reason", "no pong")
			go c.close(1001, fmt.Sprintf("no answer to a ping for %s", PongTimeout))
		}
	case !c.unackedAt.IsZero() && now.Sub(c.unackedAt) >= ackDelay, now.Sub(c.lastPing) >= c.hub.cfg.PingInterval:
		c.pingQueued = true
		return c.claimLocked()
	}
	return false
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
// runs for every client and every batch of events. It reports whether c's
// write task must be started.
func (c *client) offer(events []arena.Event, framed func(int, Schema) []byte) (start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range events {
		if c.gone {
			return start
		}
		if c.filter.wants(&events[i]) {
			if f := framed(i, c.schema); f != nil && c.queueLocked(f) {
				start = true
			}
		}
	}
	return start
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

// sendLocked queues the frame f. A full queue means the client cannot keep
// up: it is cut.
func (c *client) sendLocked(f []byte) {
	if c.queueLocked(f) {
		go c.drain()
	}
}

// queueLocked queues the frame f and reports whether the caller must
// start c's writer (go c.drain()). A full queue means the client cannot
// keep up: it is cut.
func (c *client) queueLocked(f []byte) bool {
	if len(c.queue) >= QueueBound {
		c.cutLocked(fmt.Sprintf("too slow: %d messages waiting", len(c.queue)))
		return false
	}
	c.queue = append(c.queue, f)
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

// drain is c's writer: it writes what is queued, batch by batch, with the
// ping asked for if any, until there is nothing left, waiting on the
// socket as long as the write deadline lets it.
func (c *client) drain() {
	for {
		batch, ping, ok := c.take()
		if !ok {
			return
		}
		if !c.write(batch, ping) {
			c.release()
			return
		}
	}
}

// drainNow is the writer the fan-out starts: its writes are tried without
// waiting, so a few goroutines write a whole burst to every client, and
// only a client whose socket cannot take all of its data at once gets a
// goroutine of its own (drain) to wait with the rest.
func (c *client) drainNow() {
	for {
		batch, ping, ok := c.take()
		if !ok {
			return
		}
		now := c.hub.cfg.Now()
		frames, msgs, payload, ok := c.prepare(batch, ping, now)
		if !ok {
			c.release()
			return
		}
		if len(frames) == 0 {
			continue
		}
		n, err := tryWritev(c.rc, frames)
		if err != nil {
			c.failed(err)
			c.release()
			return
		}
		if rest := consume(frames, n); rest != nil {
			go func() {
				if !c.writeWait(rest, msgs, payload, now) {
					c.release()
					return
				}
				c.drain()
			}()
			return
		}
		c.hub.count(msgs, payload)
	}
}

// consume drops the first n bytes of frames, and returns what is left
// (nil: nothing).
func consume(frames [][]byte, n int) [][]byte {
	for len(frames) > 0 && n >= len(frames[0]) {
		n -= len(frames[0])
		frames = frames[1:]
	}
	if len(frames) == 0 {
		return nil
	}
	frames[0] = frames[0][n:]
	return frames
}

// take takes what c's writer is to write next: the queue, and whether a
// ping is asked for. When there is nothing, or c is gone, it ends the
// writer's turn and reports false; once the hub is shutting down and the
// queue is written, it closes the connection.
func (c *client) take() (batch [][]byte, ping, ok bool) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		c.release()
		return nil, false, false
	}
	batch, ping = c.queue, c.pingQueued
	c.queue, c.pingQueued = nil, false
	if len(batch) == 0 && !ping {
		c.draining = false
		shutdown := c.shutdown
		c.mu.Unlock()
		if shutdown {
			c.close(1001, "server shutting down")
		}
		return nil, false, false
	}
	c.mu.Unlock()
	return batch, ping, true
}

// release ends the writer's turn; a close frame left for it goes out
// first, from a goroutine of its own (see close).
func (c *client) release() {
	c.mu.Lock()
	f := c.closeMsg
	c.closeMsg = nil
	if f == nil {
		c.draining = false
	}
	c.mu.Unlock()
	if f != nil {
		go c.sendClose(f)
	}
}

// write sends frames in one writev(2), with a ping after them when one
// is due (or forced), and reports whether the client is still there. Only
// c's writer calls write; it may use frames' spare capacity. See prepare
// and writeWait.
func (c *client) write(frames [][]byte, forcePing bool) bool {
	now := c.hub.cfg.Now()
	frames, msgs, payload, ok := c.prepare(frames, forcePing, now)
	if !ok {
		return false
	}
	if len(frames) == 0 {
		return true
	}
	return c.writeWait(frames, msgs, payload, now)
}

// prepare adds to frames the ping that is due (or forced), and counts the
// messages among them and their payload bytes; ok is false when c is
// gone: nothing is written to it, for after its close frame a write would
// fail and reset a connection that is closing gracefully. A ping rides
// with data only when data written before has waited ackDelay
// unacknowledged: a steady stream carries one ping per ackDelay in its
// own writes. Data that comes in bursts is pinged by tick, ackDelay after
// the burst, so the pongs do not compete with the next burst's writes
// (for the clients' CPU and the hub's).
func (c *client) prepare(frames [][]byte, forcePing bool, now time.Time) (out [][]byte, msgs, payload int, ok bool) {
	// Messages are the text frames; pongs to the client's pings are not.
	data := len(frames)
	for _, f := range frames {
		if f[0]&0x0f == opText {
			msgs++
			payload += payloadLen(f)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return nil, 0, 0, false
	}
	// A ping is marked out before it is written: its pong may come back
	// before the write returns.
	due := !c.unackedAt.IsZero() && now.Sub(c.unackedAt) >= ackDelay
	if c.pingAt.IsZero() && (forcePing || data > 0 && due) {
		c.pingN++
		frames = append(frames, pingFrame(&c.pingBuf, c.pingN))
		c.pingAt, c.lastPing = now, now
		c.pingData = !c.unackedAt.IsZero() || data > 0
		c.unackedAt = time.Time{}
	} else if data > 0 && c.unackedAt.IsZero() {
		c.unackedAt = now
	}
	return frames, msgs, payload, true
}

// writeWait writes frames (msgs messages, payload bytes), waiting for the
// socket up to the write deadline, and reports whether it did. A write
// that outlasts the deadline cuts the client as too slow; any failed write
// ends the connection.
func (c *client) writeWait(frames [][]byte, msgs, payload int, now time.Time) bool {
	// The deadline is moved only when less than half of it is left: a
	// write gets between WriteTimeout/2 and WriteTimeout, and a busy
	// client costs one timer update per WriteTimeout/2, not one per batch.
	if wt := c.hub.cfg.WriteTimeout; c.deadline.Sub(now) < wt/2 {
		c.deadline = now.Add(wt)
		c.nc.SetWriteDeadline(c.deadline)
	}
	if err := writeFrames(c.nc, frames); err != nil {
		c.failed(err)
		return false
	}
	c.hub.count(msgs, payload)
	return true
}

// failed ends c after a write failed with err.
func (c *client) failed(err error) {
	c.mu.Lock()
	if errors.Is(err, os.ErrDeadlineExceeded) && !c.closing.Load() {
		c.markSlowLocked("too slow: a write timed out")
	}
	c.dropLocked()
	c.mu.Unlock()
	c.end()
}

// start welcomes the client, then sends the history it asked for or the
// current state, then lets its live queue flow. last is the sequence of
// the last event published before the client joined: the history covers
// up to it, and the queue holds everything after it.
func (c *client) start(last uint64, snap *arena.Snapshot) {
	h := c.hub
	// The first write carries the first ping: whether a new client reads
	// is known within PongTimeout, at no cost of a write.
	out := &batch{c: c, ping: true}
	out.add(frame(mustJSON(welcomeMsg{Type: "welcome", ClientID: c.id, Timestamp: h.cfg.Now().UTC(), Message: WelcomeText, Sequence: last})))
	var ok bool
	if c.resume {
		ok = c.replay(out, last, snap)
	} else {
		c.snapshot(out, last, snap)
		ok = out.flush()
	}
	if !ok {
		c.release()
		return
	}
	c.mu.Lock()
	c.catchingUp = false
	c.mu.Unlock()
	c.drain()
}

// batch gathers frames for a client and writes them replayBatch at a time.
type batch struct {
	c      *client
	frames [][]byte
	ping   bool // the next write carries a ping
}

// replayBatch is how many frames of history go out in one write.
const replayBatch = 256

func (b *batch) add(f []byte) bool {
	b.frames = append(b.frames, f)
	if len(b.frames) >= replayBatch {
		return b.flush()
	}
	return true
}

func (b *batch) flush() bool {
	if len(b.frames) == 0 {
		return true
	}
	ok := b.c.write(b.frames, b.ping)
	b.frames, b.ping = b.frames[:0], false
	return ok
}

// replay writes the history after c.since up to last (or says why it
// cannot) after what out holds.
func (c *client) replay(out *batch, last uint64, snap *arena.Snapshot) bool {
	h := c.hub
	info := func(m infoMsg) { out.add(frame(mustJSON(m))) }
	if h.cfg.History == nil {
		info(infoMsg{Type: "resume", Code: "unavailable", Message: "this server keeps no history to resume from; sending the current state", Sequence: last})
		c.snapshot(out, last, snap)
		return out.flush()
	}
	from := c.since + 1
	switch oldest := h.cfg.History.Oldest(); {
	case c.since > last:
		info(infoMsg{Type: "resume", Code: "ahead", Sequence: last,
			Message: fmt.Sprintf("since=%d is ahead of the server's last sequence %d; streaming live from here", c.since, last)})
		return out.flush()
	case from < oldest:
		info(infoMsg{Type: "resume", Code: "truncated", From: oldest, To: last, Sequence: last,
			Message: fmt.Sprintf("events %d to %d are no longer kept; resuming from %d", from, oldest-1, oldest)})
		from = oldest
	}
	ok := true
	err := h.cfg.History.Replay(from, last+1, func(e arena.Event) error {
		if !c.wants(&e) {
			return nil
		}
		b, err := encode(&e, c.schema, false)
		if err != nil {
			return err
		}
		if ok = out.add(frame(b)); !ok {
			return errGone
		}
		return nil
	})
	if err != nil && ok {
		h.cfg.Logger.Error("resume", "client", c.id, "err", err)
		c.close(1011, "cannot read history")
		return false
	}
	return ok && out.flush()
}

var errGone = fmt.Errorf("client gone")

// snapshot adds to out the latest price of every symbol and the state of
// every agent as they stood after event last, marked "snapshot":true, so
// a fresh dashboard is never blank. A client without a subscription (every
// client, unless its subscribe came before its welcome went out) gets the
// frames the hub made once for every client joining after the same event.
func (c *client) snapshot(out *batch, last uint64, s *arena.Snapshot) {
	if s == nil {
		return
	}
	c.mu.Lock()
	f := c.filter
	c.mu.Unlock()
	if f == nil {
		out.frames = append(out.frames, c.hub.snapshotFrames(last, s, c.schema)...)
		return
	}
	out.frames = append(out.frames, frameSnapshot(last, s, c.schema, f)...)
}

// frameSnapshot frames, in schema, the events of snapshot s after event
// last that f lets through.
func frameSnapshot(last uint64, s *arena.Snapshot, schema Schema, f *filter) [][]byte {
	var frames [][]byte
	add := func(e arena.Event) {
		if !f.wants(&e) {
			return
		}
		b, err := encode(&e, schema, true)
		if err == nil {
			frames = append(frames, frame(b))
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
	return frames
}

// encode encodes e in schema; snapshot marks a v1 message as part of a
// snapshot.
func encode(e *arena.Event, schema Schema, snapshot bool) ([]byte, error) {
	if schema == V2 {
		return encodeV2(e)
	}
	return encodeV1(e, snapshot)
}

// inbound handles a client message. Errors are answered, and the
// connection stays up; floods close it with 1008.
func (c *client) inbound(op ws.OpCode, data []byte) {
	if !c.admit() {
		return
	}
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

// admit takes a token from c's inbound rate limit, or closes c for a
// flood. Only c's reader calls it.
func (c *client) admit() bool {
	h := c.hub
	now := h.cfg.Now()
	c.tokens = min(InboundBurst, c.tokens+now.Sub(c.lastFill).Seconds()*InboundRate)
	c.lastFill = now
	if c.tokens < 1 {
		h.protoErrs.Add(1)
		c.close(1008, fmt.Sprintf("flood: more than %d messages per second", InboundRate))
		return false
	}
	c.tokens--
	return true
}

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
	c.queue = nil
}
