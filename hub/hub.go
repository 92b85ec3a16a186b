package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/internal/bearer"
	"github.com/lineage-arena/lineage/internal/wsframe"
)

// Bounds of the hub, named so they can be documented and tested.
const (
	// DefaultMaxBacklogBytes is Config.MaxBacklogBytes's default: 64 MiB,
	// some 180,000 agent states. A step of 4,000 agents is about 1.4 MB in
	// v1, and ten seconds of events with 4,000 agents stepped every second
	// about 15 MB: a client that reads is never near it.
	DefaultMaxBacklogBytes = 64 << 20
	// DefaultSlowTimeout is Config.SlowTimeout's default. A healthy client
	// on a real network — a phone, Wi-Fi, another continent — can stall
	// for a few seconds (TCP's first retransmissions alone wait 1 s and
	// then 2 s), so one late pong is not a reason to cut it; see
	// docs/protocol.md for the choice against Centrifugo's and browsers'.
	DefaultSlowTimeout = 5 * time.Second
	// MaxInbound bounds a client frame; a larger one closes with 1009.
	MaxInbound = 4 << 10
	// InboundRate and InboundBurst bound client frames per second, every
	// frame counted (messages, fragments, pings, pongs, empty or not); a
	// flood closes with 1008.
	InboundRate  = 10
	InboundBurst = 20
	// StallTimeout bounds, with the default SlowTimeout, how long a client
	// that stops reading keeps its connection after the first data it
	// leaves unread: that data gets a ping within ackMax (noticed within
	// checkEvery), and a ping unanswered for SlowTimeout (noticed within
	// checkEvery) cuts the client as too slow. With another SlowTimeout,
	// the bound is ackMax + SlowTimeout + 2*checkEvery. Socket buffers
	// (megabytes on loopback) would hide such a client from the backlog
	// bound and the write timeout for minutes.
	StallTimeout = ackMax + DefaultSlowTimeout + 2*checkEvery
	// ackDelay, ackRide and ackMax are how long data may go out to a
	// client before a ping asks whether it was read. One ping covers
	// everything before it, so a client being sent data is pinged about
	// once per ackRide to ackMax, not once per write:
	//   - a write of data carries a ping when the data before it has
	//     waited ackRide: a client sent a step a second or more often is
	//     pinged in its own writes (one every 4 s at a step a second), and
	//     a ping costs no write of its own;
	//   - data that waited ackMax gets a ping written by itself (the next
	//     step is late, or steps are rare);
	//   - ackDelay after the first data a ping has not covered, the
	//     client's socket is looked at (SIOCOUTQ): data its kernel has not
	//     acknowledged yet gets a ping then (a link that stalls is asked
	//     early), data it has acknowledged waits, for an ACK says the
	//     client's kernel took the data, not that the client read it.
	//     Where the socket cannot be looked at (TLS, no Linux), ackDelay is
	//     the interval.
	// ackMax, with SlowTimeout, sets StallTimeout; it is long enough that
	// the pings and pongs of 10,000 clients sent a step a second stay
	// under a tenth of the hub's CPU (docs/performance.md).
	ackDelay = 400 * time.Millisecond
	ackRide  = 3 * time.Second
	ackMax   = 4 * time.Second
	// checkEvery is how often every client's pings are looked at: each
	// look takes every client's lock, so it is a cost per client (at a
	// look every 500 ms, 4.5 % of the hub's CPU with 10,000 clients; 2.2 %
	// at one a second).
	checkEvery = time.Second
	// MaxPending bounds the events Publish may leave for the fan-out;
	// past it, Publish waits for the fan-out to catch up (it takes all
	// that waits at once, so this only happens when fanning out a batch
	// takes longer than producing MaxPending events).
	MaxPending = 1 << 16
	// closeLinger bounds how long a connection the hub closes waits for
	// the client's close frame, and for its own close frame to go out.
	closeLinger = time.Second
	// readBuffer is the read buffer of a connection read on a goroutine
	// of its own (TLS, or no epoll): client frames are small (a pong is 10
	// bytes; a larger frame is still read, up to MaxInbound), and an idle
	// connection keeps its buffer. The poller reads every other
	// connection into one shared buffer (pollBuffer).
	readBuffer = 256
)

// History gives the events a resuming client missed.
type History interface {
	// Replay calls fn with every event of sequence in [from, until), in
	// order, until fn returns an error.
	Replay(from, until uint64, fn func(arena.Event) error) error
	// Oldest is the first sequence number kept.
	Oldest() uint64
}

// Config configures a Hub. The zero value of every field is its default.
type Config struct {
	// MaxConns caps open connections; beyond it the upgrade is answered
	// with HTTP 503. Default 20,000.
	MaxConns int
	// AllowedOrigins lists the Origin values allowed to connect, as
	// "scheme://host[:port]", with "*" for any port ("http://localhost:*")
	// or alone for any origin. Default: localhost, 127.0.0.1 and [::1] on
	// any port, http or https. A request without Origin (not a browser) is
	// always allowed; an Origin that is more than scheme://host[:port]
	// (user-info, a path, a query, a fragment) never is.
	AllowedOrigins []string
	// Token, when set, is required: "Authorization: Bearer <token>" or
	// ?token=<token> (for browsers).
	Token string
	// PingInterval is how often idle clients are pinged (clients being
	// sent data are pinged more often: see StallTimeout); one that does
	// not answer within SlowTimeout is closed as gone (1001). Default 30 s.
	PingInterval time.Duration
	// MaxBacklogBytes bounds, in bytes of frames, what waits in the hub for
	// one client: a step (the events of one Publish, or of the Publish
	// calls joined while the fan-out was busy) is queued whole, or, when it
	// does not fit beside what already waits, the client is cut as too
	// slow with a reason that says so. Frames are shared by every client,
	// so what a client's backlog costs the hub is a slice header per frame
	// (24 bytes), not the bytes. Default DefaultMaxBacklogBytes (64 MiB).
	MaxBacklogBytes int
	// SlowTimeout is how long a client may stay behind: a ping that goes
	// unanswered this long after data cuts the client as too slow (1008),
	// one sent to an idle client closes it as gone (1001). Pongs that come
	// back late, but within it, keep the client. Default
	// DefaultSlowTimeout (5 s).
	SlowTimeout time.Duration
	// WriteTimeout bounds one write to a client (a write gets between
	// three quarters of it and all of it); a client that does not take its
	// data in time is cut as too slow. Default SlowTimeout.
	WriteTimeout time.Duration
	// History serves ?since=N; nil means resume is not offered.
	History History
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Hub is the WebSocket fan-out. Publish is called by one goroutine (the
// arena's) and hands its batches to the hub's own fan-out goroutine;
// ServeHTTP is called by the HTTP server; Stats from anywhere.
type Hub struct {
	cfg      Config
	token    bearer.Token // cfg.Token, hashed once
	upgrader ws.HTTPUpgrader
	poller   *poller // nil where there is none: every connection has a read loop

	mu      sync.RWMutex // guards clients, lastSeq, snap, closed
	clients map[*client]struct{}
	starts  []*client       // fanOut's scratch (its goroutine's): clients whose writer it starts
	lastSeq uint64          // sequence of the last event published
	snap    *arena.Snapshot // the state after lastSeq, for new clients
	closed  bool

	// snapFrames is the snapshot last framed for new clients, per schema.
	snapMu     sync.Mutex
	snapOf     *arena.Snapshot
	snapLast   uint64
	snapFrames [2][][]byte

	nextID atomic.Uint64
	conns  atomic.Int64
	live   sync.WaitGroup // one per connection, until it ends
	stop   chan struct{}
	pinger sync.WaitGroup

	// Publish hands batches to the fan-out goroutine through pending: the
	// caller (the arena) goes on while the hub writes to its clients.
	pubMu       sync.Mutex
	pubCond     *sync.Cond // signalled when pending is taken or closed
	pending     []arena.Event
	pendingSnap *arena.Snapshot
	pubClosed   bool
	published   uint64        // Publish calls so far
	fannedOut   uint64        // of them, those queued to the clients
	pubFinished bool          // the fan-out goroutine has ended
	pubWake     chan struct{} // one token: pending has work

	sent, bytes, slow, dropped, protoErrs, accepted atomic.Uint64
	refused                                         sync.Map // reason → *atomic.Uint64
}

// New returns a Hub and starts its pinger, its fan-out and its poller;
// Close stops them.
func New(cfg Config) *Hub { return newHub(cfg, true) }

// newHub is New; without poll, every connection is read by a goroutine of
// its own, as where there is no poller.
func newHub(cfg Config, poll bool) *Hub {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 20_000
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.MaxBacklogBytes <= 0 {
		cfg.MaxBacklogBytes = DefaultMaxBacklogBytes
	}
	if cfg.SlowTimeout <= 0 {
		cfg.SlowTimeout = DefaultSlowTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = cfg.SlowTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.AllowedOrigins) == 0 {
		cfg.AllowedOrigins = []string{
			"http://localhost:*", "https://localhost:*", "http://127.0.0.1:*", "https://127.0.0.1:*",
			"http://[::1]:*", "https://[::1]:*",
		}
	}
	h := &Hub{cfg: cfg, token: bearer.New(cfg.Token), clients: map[*client]struct{}{}, stop: make(chan struct{}),
		pubWake: make(chan struct{}, 1)}
	h.pubCond = sync.NewCond(&h.pubMu)
	h.upgrader = ws.HTTPUpgrader{Timeout: 5 * time.Second}
	if poll {
		p, err := newPoller()
		if err != nil {
			cfg.Logger.Info("every connection gets a read loop", "reason", err)
		}
		h.poller = p
	}
	h.pinger.Add(1)
	go pprof.Do(context.Background(), pprof.Labels("hub", "liveness"), func(context.Context) { h.pingLoop() })
	go pprof.Do(context.Background(), pprof.Labels("hub", "fanout"), func(context.Context) { h.fanOutLoop() })
	return h
}

// ServeHTTP upgrades a request to a WebSocket, after the checks that answer
// in plain HTTP: 503 past MaxConns, 403 for a foreign Origin, 401 without
// the token. Query: ?schema=v1|v2, ?since=N.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.originAllowed(r.Header.Get("Origin")) {
		h.refuse(w, "origin", http.StatusForbidden, "origin not allowed")
		return
	}
	if !h.token.Allows(r) {
		h.refuse(w, "token", http.StatusUnauthorized, "a bearer token is required")
		return
	}
	q := r.URL.Query()
	schema := V1
	switch q.Get("schema") {
	case "", "v1":
	case "v2":
		schema = V2
	default:
		http.Error(w, "schema must be v1 or v2", http.StatusBadRequest)
		return
	}
	since, resume := uint64(0), false
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			http.Error(w, "since must be a sequence number", http.StatusBadRequest)
			return
		}
		since, resume = n, true
	}
	if h.conns.Add(1) > int64(h.cfg.MaxConns) {
		h.conns.Add(-1)
		h.refuse(w, "max_conns", http.StatusServiceUnavailable, "server at its connection limit")
		return
	}
	// A connection is counted live before it is upgraded, under the lock
	// Close takes to mark the hub closed: Close's wait never races a new
	// connection, which is refused once the hub is closing.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.conns.Add(-1)
		h.refuse(w, "shutting_down", http.StatusServiceUnavailable, "server shutting down")
		return
	}
	h.live.Add(1)
	h.mu.Unlock()
	conn, rw, _, err := h.upgrader.Upgrade(r, w) // a refusal is answered in HTTP
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		h.conns.Add(-1)
		h.live.Done()
		return
	}
	// Frames the client sent right behind its request are in the HTTP
	// server's buffer, which goes away with this handler.
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		early = append(early, b...)
	}
	h.attach(conn, schema, since, resume, early)
}

// attach serves conn, upgraded, as a client: counted in conns and live
// already, with early the bytes it sent behind its request.
func (h *Hub) attach(conn net.Conn, schema Schema, since uint64, resume bool, early []byte) {
	now := h.cfg.Now()
	c := &client{hub: h, id: h.nextID.Add(1), schema: schema, since: since, resume: resume,
		rd: wsframe.NewServerSide(MaxInbound), tokens: InboundBurst, lastFill: now, lastPing: now, nc: conn}
	if tc, ok := conn.(*net.TCPConn); ok {
		c.rc, _ = tc.SyscallConn()
	}
	h.accepted.Add(1)
	h.open(c)
	if early != nil {
		c.received(early)
	}
	if !h.poller.add(c) {
		go c.readLoop()
	}
}

func (h *Hub) refuse(w http.ResponseWriter, reason string, code int, msg string) {
	v, _ := h.refused.LoadOrStore(reason, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
	http.Error(w, msg, code)
}

// originAllowed reports whether a request with this Origin header may
// connect. An origin is "scheme://host[:port]" and nothing more, as
// browsers send it: one with user-info ("http://evil.example@localhost"),
// a path (even "/"), a query or a fragment is refused whatever the list
// says, so that no allowed host can be spelled with another in front.
func (h *Hub) originAllowed(origin string) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || !strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
		return false
	}
	for _, a := range h.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
		if base, ok := strings.CutSuffix(a, ":*"); ok {
			host := u.Scheme + "://" + u.Hostname()
			if strings.Contains(u.Hostname(), ":") {
				host = u.Scheme + "://[" + u.Hostname() + "]"
			}
			if strings.EqualFold(base, host) {
				return true
			}
		}
	}
	return false
}

// Publish sends durable events to every client that wants them, and
// records snap (if not nil) as the state they leave the arena in: a client
// joining later gets that snapshot and then exactly the events after them,
// never one twice. Each event is encoded and framed once per schema in
// use; the same bytes go to every client.
//
// Publish hands the batch to the hub's fan-out goroutine and returns: it
// never waits on a client, and the caller does not pay for the fan-out.
// Batches that come while the fan-out is busy are joined and go out
// together. Only when MaxPending events are already waiting does Publish
// wait for the fan-out to take them. The hub keeps events and snap; the
// caller must not change them.
func (h *Hub) Publish(events []arena.Event, snap *arena.Snapshot) {
	h.pubMu.Lock()
	for len(h.pending) >= MaxPending && !h.pubClosed {
		h.pubCond.Wait()
	}
	if h.pubClosed {
		h.pubMu.Unlock()
		return
	}
	h.pending = append(h.pending, events...)
	if snap != nil {
		h.pendingSnap = snap
	}
	h.published++
	h.pubMu.Unlock()
	h.wakeFanOut()
}

// wakeFanOut tells the fan-out goroutine there is work (or Close).
func (h *Hub) wakeFanOut() {
	select {
	case h.pubWake <- struct{}{}:
	default:
	}
}

// fanOutLoop takes what Publish left and fans it out, until Close; what
// is pending then still goes out.
func (h *Hub) fanOutLoop() {
	for {
		h.pubMu.Lock()
		events, snap, closed, n := h.pending, h.pendingSnap, h.pubClosed, h.published
		h.pending, h.pendingSnap = nil, nil
		h.pubCond.Broadcast()
		h.pubMu.Unlock()
		if len(events) > 0 || snap != nil {
			h.fanOut(events, snap)
		}
		h.pubMu.Lock()
		h.fannedOut = n
		h.pubFinished = closed
		h.pubCond.Broadcast()
		h.pubMu.Unlock()
		if closed {
			return
		}
		<-h.pubWake
	}
}

// Flush waits until every batch published before it has been queued to
// the clients: a client that connects after Flush returns is welcomed
// after those events.
func (h *Hub) Flush() {
	h.pubMu.Lock()
	for target := h.published; h.fannedOut < target && !h.pubFinished; {
		h.pubCond.Wait()
	}
	h.pubMu.Unlock()
}

// fanOut queues events to every client and records snap, then writes
// them; see Publish.
func (h *Hub) fanOut(events []arena.Event, snap *arena.Snapshot) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if snap != nil {
		h.snap = snap
	}
	if len(events) == 0 {
		h.mu.Unlock()
		return
	}
	h.lastSeq = events[len(events)-1].Seq
	frames := make([][2][]byte, len(events))
	framed := func(i int, s Schema) []byte {
		if frames[i][s] == nil {
			e := &events[i]
			b, err := encode(e, s, false)
			if err != nil {
				h.cfg.Logger.Error("encode event", "seq", e.Seq, "err", err)
				return nil
			}
			frames[i][s] = frame(b)
		}
		return frames[i][s]
	}
	// Client by client, the whole batch at once, under one lock per
	// client; then the writes start. Starting each as its client is
	// walked would have the walk take turns with the writes, and the last
	// clients wait for the first ones'.
	start := h.starts[:0]
	for c := range h.clients {
		if c.offer(events, framed) {
			start = append(start, c)
		}
	}
	h.mu.Unlock()
	h.writeAll(start, burstLabels)
	clear(start)
	h.starts = start
}

// The profiler labels of the hub's work (key "hub"): "fanout" queues a
// step to every client, "burst" writes it, "ping" writes the pings that
// fall due together, "liveness" looks at every client's pings, "read"
// reads client frames (pongs, mostly). A CPU profile taken with serve
// --pprof splits by them: go tool pprof -tags.
var (
	burstLabels = pprof.Labels("hub", "burst")
	pingLabels  = pprof.Labels("hub", "ping")
)

// writeAll runs the writers of clients, one drainNow each, on a few
// goroutines (one per CPU Go uses, labelled labels) that share the list.
// None of them waits on a socket, so this returns once every write was
// tried.
func (h *Hub) writeAll(clients []*client, labels pprof.LabelSet) {
	workers := min(runtime.GOMAXPROCS(0), len(clients))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			pprof.Do(context.Background(), labels, func(context.Context) {
				for i := next.Add(1) - 1; i < int64(len(clients)); i = next.Add(1) - 1 {
					clients[i].drainNow()
				}
			})
		})
	}
	wg.Wait()
}

// snapshotFrames returns the frames of snapshot s after event last in
// schema, for clients without a subscription: made once per snapshot and
// schema, and shared (read-only) by every client that joins meanwhile.
func (h *Hub) snapshotFrames(last uint64, s *arena.Snapshot, schema Schema) [][]byte {
	h.snapMu.Lock()
	defer h.snapMu.Unlock()
	if h.snapOf != s || h.snapLast != last {
		h.snapOf, h.snapLast, h.snapFrames = s, last, [2][][]byte{}
	}
	if h.snapFrames[schema] == nil {
		h.snapFrames[schema] = frameSnapshot(last, s, schema, nil)
	}
	return h.snapFrames[schema]
}

// SetLastSeq tells a new Hub where history stands before the first
// Publish, and the state it stands in (snap may be nil), so welcomes,
// snapshots and resumes are right after a restart.
func (h *Hub) SetLastSeq(seq uint64, snap *arena.Snapshot) {
	h.mu.Lock()
	h.lastSeq, h.snap = seq, snap
	h.mu.Unlock()
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	s := Stats{
		Connections: h.conns.Load(), Accepted: h.accepted.Load(), MessagesSent: h.sent.Load(),
		BytesSent: h.bytes.Load(), SlowDisconnects: h.slow.Load(), MessagesDropped: h.dropped.Load(),
		ProtocolErrors: h.protoErrs.Load(), Refused: map[string]uint64{},
	}
	h.refused.Range(func(k, v any) bool {
		s.Refused[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return s
}

// pingLoop looks at every client's pings each checkEvery (client.tick),
// and writes the pings due the way the fan-out writes a burst: clients
// that got the same burst are due together.
func (h *Hub) pingLoop() {
	defer h.pinger.Done()
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	var due []*client
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			now := h.cfg.Now()
			h.mu.RLock()
			for c := range h.clients {
				if c.tick(now) {
					due = append(due, c)
				}
			}
			h.mu.RUnlock()
			h.writeAll(due, pingLabels)
			clear(due)
			due = due[:0]
		}
	}
}

// ErrClosed is returned for work handed to a closed hub.
var ErrClosed = errors.New("hub closed")

// Close sends every client a 1001 close frame ("server shutting down"),
// stops the pinger and waits — at most wait — for the connections to end.
// It is idempotent.
func (h *Hub) Close(wait time.Duration) error {
	// What was published goes out first, then the close frames.
	h.pubMu.Lock()
	if h.pubClosed {
		h.pubMu.Unlock()
		return nil
	}
	h.pubClosed = true
	h.pubCond.Broadcast()
	h.pubMu.Unlock()
	h.wakeFanOut()
	h.pubMu.Lock()
	for !h.pubFinished {
		h.pubCond.Wait()
	}
	h.pubMu.Unlock()
	h.mu.Lock()
	h.closed = true
	clients := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	close(h.stop)
	h.pinger.Wait()
	// After what is queued: every event published reaches a client that
	// keeps up before its close frame does (a writer closes once its
	// queue is written and the hub is shutting down).
	var idle []*client
	for _, c := range clients {
		c.mu.Lock()
		c.shutdown = true
		if c.claimLocked() {
			idle = append(idle, c)
		}
		c.mu.Unlock()
	}
	h.writeAll(idle, pingLabels)
	done := make(chan struct{})
	go func() {
		h.live.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-time.After(wait):
		for _, c := range clients {
			c.end()
		}
		<-done
		err = fmt.Errorf("%w: %d clients did not close in %s", ErrClosed, len(clients), wait)
	}
	h.poller.close()
	return err
}

// open welcomes a client, then sends the snapshot or the resumed history,
// and only then makes it live: events published meanwhile wait in its queue.
func (h *Hub) open(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		c.close(1001, "server shutting down")
		return
	}
	last, snap := h.lastSeq, h.snap
	c.catchingUp, c.draining = true, true // the writer starts with the welcome
	c.queuedSeq, c.sentSeq, c.readSeq = last, last, last
	if c.resume && c.since < last {
		c.readSeq = c.since
	}
	h.clients[c] = struct{}{}
	go c.start(last, snap)
}
