// Package edge serves the protocol of `lineage serve` — welcome, snapshot,
// ?since= resume, filters, v1 and v2 — from a run's JetStream stream
// (package natspub), so the fan-out can be spread over many machines. An
// edge has no event log: it reads the latest snapshot from the run's
// Object Store bucket, then the stream from the snapshot's sequence on
// with an ordered consumer, and feeds a hub.Hub.
//
//	e, err := edge.Open(ctx, edge.Config{URL: "nats://10.0.0.1:4222", RunID: id})
//	http.Handle("/ws", e.Hub())
//	defer e.Close(time.Second)
//
// Invariants:
//   - no event reaches a client unverified: every message must be the next
//     stream sequence, name that sequence (Lineage-Sequence) and link to
//     the previous message's record hash (Lineage-Prev); the first after
//     the snapshot links to the snapshot's own hash. A message that does
//     not is a chain failure: delivery stops before it, it is counted, and
//     the edge reads the stream again from its last verified event;
//   - a client resuming from before the ring (?since=), and /api/events,
//     get the stream's older events, each chunk checked to chain to an
//     event the edge verified before any of it goes out (history.go);
//   - events go to the hub in the stream's atomic batches (one committed
//     step each), with the snapshot advanced by them, so a new client's
//     snapshot stands at its welcome's sequence;
//   - Ready reports an error until the edge has a snapshot and is caught
//     up (Config.MaxLag), and while it is stuck at a chain failure.
package edge

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
	"github.com/lineage-arena/lineage/hub"
)

// The headers and names natspub writes (the edge does not import natspub,
// which imports the engine: an edge has no log).
const (
	HeaderSeq      = "Lineage-Sequence"
	HeaderHash     = "Lineage-Hash"
	HeaderPrev     = "Lineage-Prev"
	HeaderTime     = "Lineage-Time"
	HeaderType     = "Lineage-Type"
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchCommit = "Nats-Batch-Commit"
	SnapshotObject = "snapshot"
)

// Defaults of Config's zero values.
const (
	DefaultRingEvents = 1 << 16
	DefaultBackfill   = 4096
	DefaultMaxLag     = 1000
	// MaxSnapshotBytes bounds the snapshot read from the bucket.
	MaxSnapshotBytes = 256 << 20
)

// Between two attempts to read the stream, the edge waits retryMin,
// doubling up to retryMax; it looks at the stream's last sequence every
// pollEvery, for its lag.
const (
	retryMin  = 100 * time.Millisecond
	retryMax  = time.Second // a leader election lasts seconds: resume soon after
	pollEvery = time.Second
	// liveExpiry and liveHeartbeat are the live consumer's pull request
	// expiry and idle heartbeat (see consume).
	liveExpiry    = 5 * time.Second
	liveHeartbeat = time.Second
	opTimeout     = 10 * time.Second
)

// ErrChain is wrapped by a chain failure: a message that is not the next
// sequence or does not link to the previous one's hash.
var ErrChain = errors.New("stream chain broken")

// Config configures an Edge. The zero value of every field but URL and
// RunID (or Stream and SnapshotBucket) is its documented default.
type Config struct {
	// URL is the NATS server (or comma-separated servers). Required.
	URL string
	// Options are added to the connection's; by default it reconnects
	// forever.
	Options []nats.Option
	// RunID names the run as natspub.Config.RunID does; Stream and
	// SnapshotBucket default from it, as natspub's do.
	RunID          string
	Stream         string
	SnapshotBucket string
	// Hub configures the hub clients are served by; its History is the
	// edge's: the ring, and the stream before it.
	Hub hub.Config
	// RingEvents is how many recent events the edge keeps in memory for
	// ?since= and /api/events; older ones are read from the stream.
	// Default DefaultRingEvents.
	RingEvents int
	// Backfill is how many events before the snapshot the edge reads
	// into the ring on start, so that clients moving from another edge
	// can resume. Default DefaultBackfill; negative: none.
	Backfill int
	// From, if not zero, is where the ring starts instead (at most the
	// snapshot's sequence + 1): the first sequence a client may resume
	// after.
	From uint64
	// MaxLag is the most events the edge may be behind the stream and be
	// ready. Default DefaultMaxLag; negative: 0.
	MaxLag int
	// HistoryTimeout bounds one read of history that reaches into the
	// stream (a resume, an /api/events page): past it the read fails,
	// and a resuming client is closed (1011) to resume from where it
	// got. Default DefaultHistoryTimeout.
	HistoryTimeout time.Duration
	// Logger receives chain failures and resets (warn). Nil discards.
	Logger *slog.Logger
	// OnDeliver, if set, is called each time events are handed to the
	// hub — one atomic batch — with the first one's record time (the
	// engine's commit, on the engine's clock) and the time of the
	// handing: a delivery delay, for a histogram such as metrics.Delays.
	// It is called from the reading goroutine and must return quickly.
	OnDeliver func(recorded, delivered time.Time)
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("Config.URL is empty")
	}
	if c.Stream == "" {
		c.Stream = "LINEAGE_" + c.RunID
	}
	if c.SnapshotBucket == "" {
		c.SnapshotBucket = "LINEAGE_" + c.RunID + "_SNAPSHOT"
	}
	if c.RunID == "" && (c.Stream == "LINEAGE_" || c.SnapshotBucket == "LINEAGE__SNAPSHOT") {
		return c, errors.New("Config.RunID is empty (or set Stream and SnapshotBucket)")
	}
	if c.RingEvents <= 0 {
		c.RingEvents = DefaultRingEvents
	}
	if c.Backfill == 0 {
		c.Backfill = DefaultBackfill
	}
	if c.Backfill < 0 {
		c.Backfill = 0
	}
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.MaxLag < 0 {
		c.MaxLag = 0
	}
	if c.HistoryTimeout <= 0 {
		c.HistoryTimeout = DefaultHistoryTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Stats are an Edge's counters, for metrics.
type Stats struct {
	// SnapshotSeq is the sequence of the snapshot the edge started from
	// (0 before it has one).
	SnapshotSeq uint64
	HasSnapshot bool
	// Delivered is the last sequence handed to the hub; StreamLast the
	// stream's last known sequence; Lag StreamLast − Delivered.
	Delivered  uint64
	StreamLast uint64
	Lag        uint64
	// Messages counts the stream messages verified since Open.
	Messages uint64
	// ConsumerResets counts the times the edge read the stream anew after
	// an error or a chain failure; ChainFailures the chain failures, the
	// live stream's and those found reading its history.
	ConsumerResets uint64
	ChainFailures  uint64
}

// Edge serves a run's clients from its JetStream stream.
type Edge struct {
	cfg   Config
	tune  tuning
	nc    *nats.Conn
	js    jetstream.JetStream
	hub   *hub.Hub
	ring  *ring
	marks *marks

	// streamFirst is the stream's first sequence (0 until known);
	// streamReads the history reads of the stream running (a semaphore);
	// closing is closed by Close, to end them.
	streamFirst atomic.Uint64
	streamReads chan struct{}
	closing     chan struct{}

	// The reading goroutine's own: the snapshot delivered with the last
	// batch, its agents' index, and the hash of the last verified event.
	cur   *arena.Snapshot
	index map[string]int
	prev  string

	// published is the snapshot last handed to the hub, for Snapshot.
	published atomic.Pointer[arena.Snapshot]

	snapSeq, delivered, streamLast, messages, resets, chainFails atomic.Uint64
	hasSnap, broken                                              atomic.Bool
	lastErr                                                      atomic.Pointer[error]

	cancel context.CancelFunc
	done   sync.WaitGroup
	once   sync.Once
}

// tuning is what tests may change: the distance between marks, the span
// of a read that learns them, and a hook run before every history read
// of the stream opens its consumer.
type tuning struct {
	markEvery, learnSpan uint64
	readHook             func(context.Context) error
	// Tests only: noPoll leaves the stream's end to what the edge learns
	// itself; consumeHook runs before each live read of the stream.
	noPoll      bool
	consumeHook func(context.Context)
}

// Open connects to NATS and starts reading the stream; it returns at once
// (NATS being unreachable is retried, and Ready says so). ctx bounds Open
// only. Close the Edge to stop it.
func Open(ctx context.Context, cfg Config) (*Edge, error) {
	return open(ctx, cfg, tuning{markEvery: markEvery, learnSpan: learnSpan})
}

func open(ctx context.Context, cfg Config, tune tuning) (*Edge, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open edge: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open edge: %w", err)
	}
	opts := append([]nats.Option{nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.Name("lineage edge " + cfg.RunID)},
		cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("open edge: connect %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open edge: %w", err)
	}
	e := &Edge{cfg: cfg, tune: tune, nc: nc, js: js, ring: newRing(cfg.RingEvents), marks: newMarks(tune.markEvery),
		streamReads: make(chan struct{}, maxStreamReads), closing: make(chan struct{})}
	hc := cfg.Hub
	hc.History = history{e}
	e.hub = hub.New(hc)
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done.Add(2)
	go e.run(runCtx)
	go e.poll(runCtx)
	return e, nil
}

// Hub is the hub the edge feeds: serve it at /ws (it is an http.Handler).
func (e *Edge) Hub() *hub.Hub { return e.hub }

// Snapshot is the state the edge's clients stand at: the bucket's snapshot
// advanced by every batch delivered since (nil before the edge has one).
// It must not be modified. Safe for concurrent use.
func (e *Edge) Snapshot() *arena.Snapshot { return e.published.Load() }

// Stats returns the edge's counters. Safe for concurrent use.
func (e *Edge) Stats() Stats {
	s := Stats{
		SnapshotSeq: e.snapSeq.Load(), HasSnapshot: e.hasSnap.Load(), Delivered: e.delivered.Load(),
		StreamLast: e.streamLast.Load(), Messages: e.messages.Load(), ConsumerResets: e.resets.Load(),
		ChainFailures: e.chainFails.Load(),
	}
	if s.StreamLast > s.Delivered {
		s.Lag = s.StreamLast - s.Delivered
	}
	return s
}

// Ready is nil when the edge serves a current state: it has a snapshot,
// is within MaxLag events of the stream's end, and is not stuck at a
// chain failure. For /readyz.
func (e *Edge) Ready() error {
	s := e.Stats()
	switch {
	case !s.HasSnapshot:
		if p := e.lastErr.Load(); p != nil {
			return fmt.Errorf("edge: no snapshot yet: %w", *p)
		}
		return errors.New("edge: no snapshot yet")
	case e.broken.Load():
		return fmt.Errorf("edge: stopped before event %d: %w", s.Delivered+1, *e.lastErr.Load())
	case s.Lag > uint64(e.cfg.MaxLag):
		return fmt.Errorf("edge: %d events behind the stream (at most %d)", s.Lag, e.cfg.MaxLag)
	}
	return nil
}

// Close stops reading, closes the hub (1001 to every client, waiting at
// most wait) and the NATS connection. Idempotent.
func (e *Edge) Close(wait time.Duration) error {
	var err error
	e.once.Do(func() {
		e.cancel()
		e.done.Wait()
		// Clients replaying history get it, within wait, then 1001;
		// the reads still running then are ended.
		err = e.hub.Close(wait)
		close(e.closing)
		e.nc.Close()
	})
	return err
}

// poll keeps the stream's last sequence current, for the lag, while no
// message comes.
func (e *Edge) poll(ctx context.Context) {
	defer e.done.Done()
	if e.tune.noPoll {
		return
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		e.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Edge) pollOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	st, err := e.js.Stream(ctx, e.cfg.Stream)
	if err != nil {
		return
	}
	info, err := st.Info(ctx)
	if err == nil {
		e.noteLast(info.State.LastSeq)
		e.noteFirst(info.State.FirstSeq)
		e.marks.prune(e.streamFirst.Load())
	}
}

// noteLast raises the stream's last known sequence to last.
func (e *Edge) noteLast(last uint64) {
	for {
		cur := e.streamLast.Load()
		if last <= cur || e.streamLast.CompareAndSwap(cur, last) {
			return
		}
	}
}

// run reads the snapshot (once), then the stream; after an error or a
// chain failure it waits and reads again from the last verified event.
func (e *Edge) run(ctx context.Context) {
	defer e.done.Done()
	wait := retryMin
	for {
		var err error
		progressed := false
		if !e.hasSnap.Load() {
			err = e.loadSnapshot(ctx)
		}
		if err == nil {
			before := e.messages.Load()
			if e.tune.consumeHook != nil {
				e.tune.consumeHook(ctx)
			}
			err = e.consume(ctx)
			progressed = e.messages.Load() > before
		}
		if ctx.Err() != nil {
			return
		}
		e.lastErr.Store(&err)
		if errors.Is(err, ErrChain) {
			e.chainFails.Add(1)
			e.broken.Store(true)
			e.cfg.Logger.Warn("edge: chain failure: delivery stopped before it; reading the stream again", "stream", e.cfg.Stream,
				"delivered", e.delivered.Load(), "err", err)
		} else {
			e.cfg.Logger.Warn("edge: reading the stream failed; reading it again", "stream", e.cfg.Stream, "err", err)
		}
		if e.hasSnap.Load() {
			e.resets.Add(1)
		}
		if progressed {
			wait = retryMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// snapshot is the bucket's latest snapshot and where it stands.
type snapshot struct {
	seq  uint64
	hash string
	s    *arena.Snapshot
}

// fetchSnapshot reads the latest snapshot from the bucket.
func (e *Edge) fetchSnapshot(ctx context.Context) (snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	obs, err := e.js.ObjectStore(ctx, e.cfg.SnapshotBucket)
	if err != nil {
		return snapshot{}, fmt.Errorf("snapshot bucket %s: %w", e.cfg.SnapshotBucket, err)
	}
	res, err := obs.Get(ctx, SnapshotObject)
	if err != nil {
		return snapshot{}, fmt.Errorf("snapshot bucket %s: %w", e.cfg.SnapshotBucket, err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return snapshot{}, fmt.Errorf("snapshot bucket %s: %w", e.cfg.SnapshotBucket, err)
	}
	data, err := io.ReadAll(io.LimitReader(res, MaxSnapshotBytes+1))
	if err != nil {
		return snapshot{}, fmt.Errorf("read snapshot: %w", err)
	}
	if len(data) > MaxSnapshotBytes {
		return snapshot{}, fmt.Errorf("snapshot larger than %d bytes", MaxSnapshotBytes)
	}
	var s arena.Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return snapshot{}, fmt.Errorf("decode snapshot: %w", err)
	}
	seq, err := strconv.ParseUint(info.Headers.Get(HeaderSeq), 10, 64)
	hash := info.Headers.Get(HeaderHash)
	switch {
	case err != nil:
		return snapshot{}, fmt.Errorf("snapshot's %s header %q is not a sequence", HeaderSeq, info.Headers.Get(HeaderSeq))
	case s.NextSeq != seq+1:
		return snapshot{}, fmt.Errorf("snapshot tagged %d holds the state after event %d", seq, s.NextSeq-1)
	case !isHash(hash):
		return snapshot{}, fmt.Errorf("snapshot's %s header %q is not a hash", HeaderHash, hash)
	}
	return snapshot{seq: seq, hash: hash, s: &s}, nil
}

func isHash(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// loadSnapshot starts the edge from the bucket's latest snapshot: the hub
// stands at its sequence, and its events before it (Backfill, From) are
// read into the ring once the chain from them reaches its hash.
func (e *Edge) loadSnapshot(ctx context.Context) error {
	snap, err := e.fetchSnapshot(ctx)
	if err != nil {
		return err
	}
	from := snap.seq + 1
	switch {
	case e.cfg.From > 0:
		from = min(e.cfg.From, from)
	case uint64(e.cfg.Backfill) < snap.seq:
		from = snap.seq + 1 - uint64(e.cfg.Backfill)
	default:
		from = 1
	}
	if from <= snap.seq {
		if err := e.backfill(ctx, from, snap); err != nil {
			return err
		}
	} else {
		e.ring.reset(from, snap.hash)
	}
	e.marks.put(snap.seq, snap.hash)
	// Where the stream ends now, so the edge is not ready before it has
	// delivered what was in the stream past the snapshot (and where it
	// starts: Oldest, for the first clients).
	if _, err := e.streamBounds(ctx); err != nil {
		return fmt.Errorf("stream %s: %w", e.cfg.Stream, err)
	}
	e.cur, e.index, e.prev = snap.s, indexAgents(snap.s), snap.hash
	e.hub.SetLastSeq(snap.seq, snap.s)
	e.published.Store(snap.s)
	e.delivered.Store(snap.seq)
	e.snapSeq.Store(snap.seq)
	e.noteLast(snap.seq)
	e.hasSnap.Store(true)
	return nil
}

// backfill reads events from..snap.seq into the ring, checking the chain
// from the first of them to the snapshot's hash. The stream may have
// pruned the first ones: the ring starts where it does.
func (e *Edge) backfill(ctx context.Context, from uint64, snap snapshot) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout+time.Duration(snap.seq-from)*time.Millisecond)
	defer cancel()
	r, err := e.openReader(ctx, from)
	if err != nil {
		return err
	}
	defer r.stop()
	r.next = 0 // the first may be later than from
	var evs []entry
	for {
		x, hash, err := r.read(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: read events %d-%d: %w", e.cfg.Stream, from, snap.seq, err)
		}
		if x.ev.Seq > snap.seq {
			return fmt.Errorf("%w: the stream holds no event %d..%d (first %d): the snapshot is older than the stream",
				ErrChain, from, snap.seq, x.ev.Seq)
		}
		evs = append(evs, x)
		if x.ev.Seq == snap.seq {
			if hash != snap.hash {
				return fmt.Errorf("%w: event %d has hash %s, the snapshot's is %s", ErrChain, x.ev.Seq, hash, snap.hash)
			}
			e.ring.reset(evs[0].ev.Seq, evs[0].prev)
			// The marks among them: each is verified by the chain to
			// the snapshot's hash.
			for i := range evs[:len(evs)-1] {
				e.marks.put(evs[i].ev.Seq, evs[i+1].prev)
			}
			return e.ring.add(evs)
		}
	}
}

// verify checks message m: it must be stream sequence want (any, if 0),
// name that sequence, link to prev (any, if ""), and hold that event.
// It returns the event, with its payload and link, and its hash.
func verify(m jetstream.Msg, want uint64, prev string) (entry, string, error) {
	seq, hash, err := verifyLink(m, want, prev)
	if err != nil {
		return entry{}, "", err
	}
	h := m.Headers()
	var ev arena.Event
	if err := json.NewDecoder(bytes.NewReader(m.Data())).Decode(&ev); err != nil {
		return entry{}, "", fmt.Errorf("%w: event %d: %v", ErrChain, seq, err)
	}
	if ev.Seq != seq {
		return entry{}, "", fmt.Errorf("%w: stream message %d holds event %d", ErrChain, seq, ev.Seq)
	}
	// The payload is copied out: m.Data() shares its array with the
	// message's headers, which the ring need not keep.
	return entry{ev: ev, raw: bytes.Clone(m.Data()), prev: h.Get(HeaderPrev)}, hash, nil
}

// verifyLink is verify without decoding the event: the message is the
// record of event want (any, if 0) that links to prev (any, if ""). It
// returns its sequence and hash.
func verifyLink(m jetstream.Msg, want uint64, prev string) (uint64, string, error) {
	meta, err := m.Metadata()
	if err != nil {
		return 0, "", fmt.Errorf("message metadata: %w", err)
	}
	seq := meta.Sequence.Stream
	h := m.Headers()
	hash := h.Get(HeaderHash)
	switch {
	case want != 0 && seq != want:
		return 0, "", fmt.Errorf("%w: stream sequence %d where %d was next", ErrChain, seq, want)
	case h.Get(HeaderSeq) != strconv.FormatUint(seq, 10):
		return 0, "", fmt.Errorf("%w: stream message %d says it is event %q", ErrChain, seq, h.Get(HeaderSeq))
	case prev != "" && h.Get(HeaderPrev) != prev:
		return 0, "", fmt.Errorf("%w: event %d links to %q, event %d's hash is %s", ErrChain, seq, h.Get(HeaderPrev), seq-1, prev)
	case !isHash(hash):
		return 0, "", fmt.Errorf("%w: event %d has hash %q", ErrChain, seq, hash)
	}
	if err := checkHash(h, seq, m.Data(), hash); err != nil {
		return 0, "", err
	}
	return seq, hash, nil
}

// checkHash recomputes the record hash of event seq from its headers (its
// time, type and link) and payload, as the event log computed it, and
// compares it with hash: a message whose content is not the logged
// record's is refused even when its link is right.
func checkHash(h nats.Header, seq uint64, payload []byte, hash string) error {
	nanos, err := strconv.ParseInt(h.Get(HeaderTime), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: event %d has time %q", ErrChain, seq, h.Get(HeaderTime))
	}
	prevHex, err := hex.DecodeString(h.Get(HeaderPrev))
	if err != nil || len(prevHex) != 32 {
		return fmt.Errorf("%w: event %d links to %q", ErrChain, seq, h.Get(HeaderPrev))
	}
	var prev [32]byte
	copy(prev[:], prevHex)
	sum := eventlog.Hash(seq, time.Unix(0, nanos), h.Get(HeaderType), prev, payload)
	if hex.EncodeToString(sum[:]) != hash {
		return fmt.Errorf("%w: event %d does not hash to its %s header", ErrChain, seq, HeaderHash)
	}
	return nil
}

// inBatch says a message is part of an atomic batch and not its last:
// natspub publishes every step as one or more batches, each ended by its
// commit. A message of no batch stands alone.
func inBatch(h nats.Header) bool {
	return h.Get(hdrBatchID) != "" && h.Get(hdrBatchCommit) != "1"
}

// consume reads the stream from the event after the last delivered one,
// verifying each message, and hands each atomic batch to the hub with the
// snapshot advanced by it. It returns on the first error.
func (e *Edge) consume(ctx context.Context) error {
	next := e.delivered.Load() + 1
	c, err := e.js.OrderedConsumer(ctx, e.cfg.Stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", e.cfg.Stream, err)
	}
	// The consumer's server may be the stream's leader that was lost:
	// heartbeats every second tell within two that it is gone, and the
	// ordered consumer is made again on a node that is there (the
	// defaults, 15 s, would stall every client for half a minute).
	it, err := c.Messages(jetstream.PullExpiry(liveExpiry), jetstream.PullHeartbeat(liveHeartbeat))
	if err != nil {
		return fmt.Errorf("stream %s: %w", e.cfg.Stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	var batch []entry
	var events []arena.Event
	type mark struct {
		seq  uint64
		hash string
	}
	var found []mark
	prev := e.prev
	for {
		m, err := it.Next()
		if err != nil {
			return fmt.Errorf("stream %s: read event %d: %w", e.cfg.Stream, next, err)
		}
		x, hash, err := verify(m, next, prev)
		if err != nil {
			return err
		}
		meta, _ := m.Metadata()
		e.noteLast(meta.Sequence.Stream + meta.NumPending)
		e.messages.Add(1)
		batch, events, prev, next = append(batch, x), append(events, x.ev), hash, next+1
		if x.ev.Seq%e.tune.markEvery == 0 {
			found = append(found, mark{x.ev.Seq, hash})
		}
		if inBatch(m.Headers()) {
			// The rest of the step's batch is on its way: the stream may
			// hand a batch over while it stores it (nothing pending yet),
			// so only the commit ends it.
			continue
		}
		if err := e.ring.add(batch); err != nil {
			return err
		}
		for _, k := range found {
			e.marks.put(k.seq, k.hash)
		}
		e.cur = advance(e.cur, e.index, events)
		e.hub.Publish(events, e.cur)
		if e.cfg.OnDeliver != nil {
			e.cfg.OnDeliver(events[0].Time, time.Now())
		}
		e.published.Store(e.cur)
		e.prev = prev
		e.delivered.Store(x.ev.Seq)
		e.broken.Store(false)
		batch, events, found = nil, nil, found[:0]
	}
}
