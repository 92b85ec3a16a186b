// Package natspub publishes a durable run's events to a NATS JetStream
// stream, a distribution log that edges serve clients from. The engine's
// hash-chained event log stays the source of truth: the stream is a
// replica of it, checked against it and republished from it, never ahead
// of it.
//
// A Publisher is a subscriber of an engine's committed steps:
//
//	p, err := natspub.Open(ctx, e, natspub.Config{URL: "nats://127.0.0.1:4222"})
//	defer p.Close() // before e.Close
//
// Invariants:
//   - stream sequence N holds the event of Lineage sequence N: the genesis
//     record 0 is not published, event 1 is the stream's first message,
//     and every message names its sequence, its record's hash and the
//     previous record's hash in headers (the first message's previous hash
//     is the genesis record's);
//   - each committed step is one JetStream atomic batch, guarded by
//     Nats-Expected-Last-Sequence: the stream takes all of it after the
//     message before it, or none of it;
//   - an event reaches the stream only after it is durable in the log, and
//     in order: none dropped, none skipped, none published twice;
//   - a stream that differs from the log — its last message's hash is not
//     the log's at that sequence, or it runs ahead of the log — is
//     diverged: publishing stops for good and Stats and Err report it.
//
// Publishing never blocks the engine: the subscriber callback only queues
// the step (see Config.QueueSteps); a full queue or a NATS outage leaves
// the publisher behind, and it catches up from the event log.
package natspub

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/eventlog"
)

// Headers every published message carries, beside JetStream's own
// (Nats-Msg-Id "<run id>:<sequence>", and the batch headers).
const (
	HeaderSeq  = "Lineage-Sequence" // the event's sequence number, decimal
	HeaderHash = "Lineage-Hash"     // its record's hash in the log, 64 hex digits
	HeaderPrev = "Lineage-Prev"     // the previous record's hash, 64 hex digits
	HeaderTime = "Lineage-Time"     // the record's time, Unix nanoseconds, decimal
	HeaderType = "Lineage-Type"     // the record's type
)

// Defaults of Config's zero values.
const (
	// DefaultQueueSteps bounds the steps waiting between the engine's
	// callback and the publishing goroutine. A step that finds the queue
	// full is not lost: it is read back from the log.
	DefaultQueueSteps = 1024
	// DefaultMaxBatch is the most messages in one atomic batch: the NATS
	// server's own default limit (max_batch_size). A step with more events
	// is published as several batches, in order.
	DefaultMaxBatch   = 1000
	DefaultAckTimeout = 5 * time.Second
)

// After a failed publish the publisher waits retryMin, doubling up to
// retryMax, before it reconciles with the stream again. retryMax is short:
// a stream leader election takes a few seconds, and a longer wait would
// stall every edge past its end (one reconcile a second costs nothing).
const (
	retryMin = 100 * time.Millisecond
	retryMax = time.Second
)

// ErrDiverged is wrapped by the error Err reports once the stream is found
// to differ from the event log.
var ErrDiverged = errors.New("jetstream stream diverged from the event log")

// Config configures a Publisher. The zero value of every field but URL is
// its documented default.
type Config struct {
	// URL is the NATS server (or comma-separated servers) to publish to.
	// Required. A server that cannot be reached yet is retried: Open does
	// not wait for it.
	URL string
	// Options are added to the connection's (credentials, TLS, a name);
	// by default the connection reconnects forever.
	Options []nats.Option
	// RunID names the run in subjects and message ids. Default: the first
	// 16 hex digits of the genesis record's hash, stable across restarts
	// and distinct between runs.
	RunID string
	// Stream is the JetStream stream's name. Default "LINEAGE_<run id>".
	Stream string
	// Subject is the stream's only subject. Default "lineage.<run id>.events".
	Subject string
	// Replicas of a stream the publisher creates (file storage). Default 1.
	// An existing stream keeps its own.
	Replicas int
	// QueueSteps bounds the step queue. Default DefaultQueueSteps.
	QueueSteps int
	// MaxBatch bounds the messages of one atomic batch. Default
	// DefaultMaxBatch; it must not exceed the server's max_batch_size.
	MaxBatch int
	// AckTimeout bounds each request to NATS: a batch's acknowledgement,
	// a stream lookup. Default DefaultAckTimeout.
	AckTimeout time.Duration
	// SnapshotBucket is the Object Store bucket the arena's snapshots go
	// to (object SnapshotObject). Default "LINEAGE_<run id>_SNAPSHOT".
	SnapshotBucket string
	// SnapshotInterval is the least time between two snapshots written:
	// one is written on start, then with the first step committed after
	// each interval (or after SnapshotSteps steps, if set). Default
	// DefaultSnapshotInterval; negative: no snapshots.
	SnapshotInterval time.Duration
	// SnapshotSteps, if positive, also writes a snapshot once that many
	// steps were committed since the last one.
	SnapshotSteps int
	// Logger receives publish failures (warn), a divergence (error) and
	// the stream's creation and catch-ups (info). Nil discards them.
	Logger *slog.Logger
	// OnAck, if set, is called once each atomic batch is acknowledged,
	// with its first event's record time (the engine's commit) and the
	// time of the acknowledgement: a publish delay, for a histogram such
	// as metrics.Delays. It is called from the publishing goroutine and
	// must return quickly.
	OnAck func(recorded, acked time.Time)
}

func (c Config) withDefaults(genesis [32]byte) Config {
	if c.RunID == "" {
		c.RunID = hex.EncodeToString(genesis[:8])
	}
	if c.Stream == "" {
		c.Stream = "LINEAGE_" + c.RunID
	}
	if c.Subject == "" {
		c.Subject = "lineage." + c.RunID + ".events"
	}
	if c.SnapshotBucket == "" {
		c.SnapshotBucket = "LINEAGE_" + c.RunID + "_SNAPSHOT"
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.QueueSteps <= 0 {
		c.QueueSteps = DefaultQueueSteps
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stats are a Publisher's counters, for metrics.
type Stats struct {
	// Published is the last sequence known to be in the stream: every
	// event up to it is there, at its own sequence.
	Published uint64
	// Head is the last durable event in the log.
	Head uint64
	// Lag is Head − Published: events durable, not yet in the stream.
	Lag uint64
	// Batches and Messages count the atomic batches committed and their
	// messages since Open.
	Batches  uint64
	Messages uint64
	// PublishErrors counts failed publishes and reconciliations (each is
	// retried after a reconciliation).
	PublishErrors uint64
	// Overflows counts the steps that found the queue full (read back
	// from the log instead).
	Overflows uint64
	// Diverged is set once the stream was found to differ from the log:
	// nothing more is published.
	Diverged bool
	// Snapshots counts the snapshots written to the bucket since Open,
	// SnapshotErrors the writes that failed; SnapshotSeq is the sequence
	// of the last one written.
	Snapshots      uint64
	SnapshotErrors uint64
	SnapshotSeq    uint64
}

// span is a committed step: the sequence numbers of its first and last
// events.
type span struct {
	first, last uint64
	snap        *arena.Snapshot
}

// Publisher publishes an engine's committed events to a JetStream stream.
// Its methods may be called from any goroutine.
type Publisher struct {
	cfg     Config
	e       *engine.Engine
	nc      *nats.Conn
	js      jetstream.JetStream
	genesis [32]byte

	queue chan span     // committed steps, bounded: Config.QueueSteps
	wake  chan struct{} // a step overflowed the queue: catch up from the log

	// Owned by the publishing goroutine: the next sequence to publish and
	// the hash of the record before it (the stream's last).
	next uint64
	prev [32]byte
	// Also the publishing goroutine's: the snapshot bucket (nil until
	// the first write), the snapshot to write next, the last write's time.
	obs    jetstream.ObjectStore
	snap   pendingSnap
	snapAt time.Time

	snapshots, snapErrs, snapSeq atomic.Uint64

	published, batches, messages, errs, overflows atomic.Uint64
	diverged                                      atomic.Pointer[error]
	stopped                                       atomic.Bool

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Open subscribes a Publisher to e's committed steps and starts publishing
// them: first it reconciles the stream with the log (creating the stream
// if missing) and republishes what the stream lacks. Subscribe before
// e.Run to see every step; a step missed is caught up from the log all
// the same. Open returns once the publisher runs; NATS being unreachable
// is not an error (it is retried, counted in Stats). ctx bounds Open only.
// Close the Publisher before the Engine.
func Open(ctx context.Context, e *engine.Engine, cfg Config) (*Publisher, error) {
	if cfg.URL == "" {
		return nil, errors.New("open jetstream publisher: Config.URL is empty")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open jetstream publisher: %w", err)
	}
	var genesis [32]byte
	found := false
	err := e.History().Records(0, 1, func(r eventlog.Record) error {
		genesis, found = r.Hash, true
		return nil
	})
	if err == nil && !found {
		err = errors.New("the log has no genesis record")
	}
	if err != nil {
		return nil, fmt.Errorf("open jetstream publisher: read genesis record: %w", err)
	}
	cfg = cfg.withDefaults(genesis)
	opts := append([]nats.Option{nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.Name("lineage publisher " + cfg.RunID)},
		cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("open jetstream publisher: connect %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open jetstream publisher: %w", err)
	}
	p := &Publisher{
		cfg: cfg, e: e, nc: nc, js: js, genesis: genesis,
		queue: make(chan span, cfg.QueueSteps), wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	e.Subscribe(p.onStep)
	go p.run(runCtx)
	return p, nil
}

// onStep is the engine's subscriber: it queues the step and returns at
// once. A full queue drops the step from the queue, not from the stream:
// the publishing goroutine is woken to read it back from the log.
func (p *Publisher) onStep(s engine.Step) {
	if len(s.Events) == 0 || p.stopped.Load() {
		return
	}
	select {
	case p.queue <- span{s.Events[0].Seq, s.Events[len(s.Events)-1].Seq, s.Snapshot}:
	default:
		p.overflows.Add(1)
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// run publishes until ctx is done or the stream diverges: reconcile and
// catch up, then each queued step; after a failure, wait and do it again.
func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	wait := retryMin
	for {
		err := p.reconcile(ctx)
		if err == nil {
			err = p.catchUp(ctx, p.head())
		}
		if err == nil {
			wait = retryMin
			p.offerSnapshot(ctx, p.e.Snapshot())
		}
		for err == nil {
			select {
			case <-ctx.Done():
				return
			case s := <-p.queue:
				if err = p.publishStep(ctx, s); err == nil {
					p.offerSnapshot(ctx, s.snap)
				}
			case <-p.wake:
				err = p.catchUp(ctx, p.head())
			}
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrDiverged) {
			p.diverged.Store(&err)
			p.stopped.Store(true)
			p.cfg.Logger.Error("jetstream stream diverged from the event log: publishing stopped",
				"stream", p.cfg.Stream, "published", p.published.Load(), "err", err)
			return
		}
		p.errs.Add(1)
		p.cfg.Logger.Warn("jetstream publish failed: reconciling with the stream and catching up from the log",
			"stream", p.cfg.Stream, "next_sequence", p.next, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		wait = min(2*wait, retryMax)
	}
}

// head is the sequence of the last durable event (0: none yet).
func (p *Publisher) head() uint64 {
	if d := p.e.LogStats().Durable; d > 0 {
		return d - 1
	}
	return 0
}

// RunID is the run's id (Config.RunID or its default), the one `lineage
// edge --nats-run` takes. Safe for concurrent use.
func (p *Publisher) RunID() string { return p.cfg.RunID }

// Stream is the stream's name (Config.Stream or its default). Safe for
// concurrent use.
func (p *Publisher) Stream() string { return p.cfg.Stream }

// Stats returns the publisher's counters. Safe for concurrent use.
func (p *Publisher) Stats() Stats {
	s := Stats{
		Published: p.published.Load(), Head: p.head(), Batches: p.batches.Load(), Messages: p.messages.Load(),
		PublishErrors: p.errs.Load(), Overflows: p.overflows.Load(), Diverged: p.diverged.Load() != nil,
		Snapshots: p.snapshots.Load(), SnapshotErrors: p.snapErrs.Load(), SnapshotSeq: p.snapSeq.Load(),
	}
	if s.Head > s.Published {
		s.Lag = s.Head - s.Published
	}
	return s
}

// Err is the divergence that stopped the publisher (wrapping ErrDiverged),
// nil while it publishes.
func (p *Publisher) Err() error {
	if e := p.diverged.Load(); e != nil {
		return *e
	}
	return nil
}

// Close stops publishing, waits for the publishing goroutine and closes
// the NATS connection. A batch in flight is abandoned: the stream takes
// all of it or none, and the next Open reconciles. Idempotent; the
// engine's later steps are ignored.
func (p *Publisher) Close() error {
	p.once.Do(func() {
		p.stopped.Store(true)
		p.cancel()
		<-p.done
		p.nc.Close()
	})
	return nil
}
