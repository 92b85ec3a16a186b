package edge

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// reader reads the stream in order from a sequence with an ordered
// consumer, verifying every message as the live ones are (verify): the
// next sequence, named by its Lineage-Sequence, linked to the previous
// message's hash, hashing to its Lineage-Hash.
type reader struct {
	e    *Edge
	it   jetstream.MessagesContext
	next uint64
	prev string // the last message's hash; "" before the first
}

// openReader starts reading the stream at event from.
func (e *Edge) openReader(ctx context.Context, from uint64) (*reader, error) {
	// The server drops the consumer soon after the reader stops (it
	// does not say so itself); a reader held up by a slow client longer
	// than that gets a new one from where it was, transparently.
	c, err := e.js.OrderedConsumer(ctx, e.cfg.Stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from, InactiveThreshold: opTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", e.cfg.Stream, err)
	}
	it, err := c.Messages()
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", e.cfg.Stream, err)
	}
	return &reader{e: e, it: it, next: from}, nil
}

func (r *reader) stop() { r.it.Stop() }

// read returns the next event, verified, and its hash; with next 0, the
// first message may be any sequence. A message past the next sequence
// because the stream's retention removed the next is ErrTruncated; any
// other break of the chain is ErrChain.
func (r *reader) read(ctx context.Context) (entry, string, error) {
	m, err := r.message(ctx)
	if err != nil {
		return entry{}, "", err
	}
	x, hash, err := verify(m, r.next, r.prev)
	if err != nil {
		return entry{}, "", err
	}
	r.next, r.prev = x.ev.Seq+1, hash
	return x, hash, nil
}

// link is read for a reader that only checks the chain (verifyLink): it
// returns the next event's sequence, Lineage-Prev and hash, but does not
// decode the event.
func (r *reader) link(ctx context.Context) (seq uint64, prev, hash string, err error) {
	m, err := r.message(ctx)
	if err != nil {
		return 0, "", "", err
	}
	seq, hash, err = verifyLink(m, r.next, r.prev)
	if err != nil {
		return 0, "", "", err
	}
	r.next, r.prev = seq+1, hash
	return seq, m.Headers().Get(HeaderPrev), hash, nil
}

// message returns the next message, or ErrTruncated when it is not the
// next sequence because the stream no longer holds that.
func (r *reader) message(ctx context.Context) (jetstream.Msg, error) {
	e := r.e
	m, err := r.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("stream %s: read event %d: %w", e.cfg.Stream, r.next, err)
	}
	if meta, err := m.Metadata(); err == nil && r.next != 0 && meta.Sequence.Stream > r.next {
		if first := e.streamFirstSeq(ctx); first > r.next {
			return nil, fmt.Errorf("%w: event %d (the stream starts at %d)", ErrTruncated, r.next, first)
		}
	}
	return m, nil
}

// streamFirstSeq asks the stream for its first sequence, and notes it and
// the last (0 when the stream cannot be asked).
func (e *Edge) streamFirstSeq(ctx context.Context) uint64 {
	first, _ := e.streamBounds(ctx)
	return first
}

// streamBounds asks the stream for its first and last sequences, and
// notes them.
func (e *Edge) streamBounds(ctx context.Context) (first uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	st, err := e.js.Stream(ctx, e.cfg.Stream)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	e.noteFirst(info.State.FirstSeq)
	e.noteLast(info.State.LastSeq)
	return info.State.FirstSeq, nil
}

// noteFirst raises the stream's first known sequence to first: a
// stream's first sequence only moves forward.
func (e *Edge) noteFirst(first uint64) {
	for {
		cur := e.streamFirst.Load()
		if first <= cur || e.streamFirst.CompareAndSwap(cur, first) {
			return
		}
	}
}

// marks are the hashes of the events the edge has verified whose
// sequence is a multiple of every: the anchors history reads of the
// stream are checked against. Safe for concurrent use.
type marks struct {
	every uint64
	mu    sync.Mutex
	m     map[uint64]string
	floor uint64 // marks below it are dropped
}

func newMarks(every uint64) *marks { return &marks{every: every, m: map[uint64]string{}} }

func (m *marks) get(seq uint64) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.m[seq]
	return h, ok
}

// put keeps hash as event seq's, if seq is a mark.
func (m *marks) put(seq uint64, hash string) {
	if seq%m.every != 0 {
		return
	}
	m.mu.Lock()
	if seq >= m.floor {
		m.m[seq] = hash
	}
	m.mu.Unlock()
}

// prune drops the marks below floor: events the stream no longer holds.
func (m *marks) prune(floor uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if floor <= m.floor {
		return
	}
	m.floor = floor
	for s := range m.m {
		if s < floor {
			delete(m.m, s)
		}
	}
}
