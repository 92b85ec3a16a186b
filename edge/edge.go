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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
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
