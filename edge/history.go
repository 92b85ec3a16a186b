package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lineage-arena/lineage/arena"
)

// What a client that resumes (?since=) or pages /api/events gets: the
// ring's events, and before them the stream's, read on demand and checked
// as the live ones are before any of them goes out.
//
// An event read back from the stream is trusted only once the chain from
// it reaches an event the edge has verified: the ring's oldest (whose
// Lineage-Prev the last event read must hash to) or a mark — the hash of
// every markEvery-th event the edge has ever verified, which it keeps (a
// few bytes per thousand events). So the stream is read in chunks that end
// at a mark, each checked against it before it is delivered, and a
// resume of millions of events holds one chunk at a time. Where the edge
// has no marks yet (events from before it started), it first learns them:
// it reads the stream back from its oldest known anchor in spans of
// learnSpan events, each checked against the anchor above it, and keeps
// the marks of every span that checks, so that work is done once per edge.
// Nothing of a chunk or a span that does not check is delivered: the read
// fails, the chain failure is counted, and the client is closed (1011).

const (
	// DefaultHistoryTimeout is Config.HistoryTimeout's default.
	DefaultHistoryTimeout = time.Minute
	// markEvery is the distance between marks, and the size of the
	// chunks the stream is delivered in.
	markEvery = 1024
	// learnSpan is how many events one read learns marks from.
	learnSpan = 64 * markEvery
	// replayChunk is how many events are copied out of the ring at once,
	// under its lock.
	replayChunk = 1024
	// maxStreamReads bounds the history reads of the stream that run at
	// once (each is a consumer on the server and a chunk in memory); more
	// wait for one to finish, within their timeout.
	maxStreamReads = 16
)

// ErrTruncated is wrapped by a history read that needs events the stream
// no longer holds (its retention removed them).
var ErrTruncated = errors.New("events no longer in the stream")

// history is the hub's History: the ring, and the stream before it.
type history struct{ e *Edge }

// Oldest is the first event a client may resume from: the stream's first,
// or the ring's oldest when the stream's is not known (yet) or newer.
func (h history) Oldest() uint64 { return h.e.oldest() }

// Replay calls fn with the events [from, until), in order, from the stream
// and then from the ring. It fails, rather than skip, when the stream no
// longer holds the oldest of them or the newest has not come, and never
// calls fn with an event whose chain to a verified one did not check.
func (h history) Replay(from, until uint64, fn func(arena.Event) error) error {
	ctx, cancel := h.e.historyContext()
	defer cancel()
	return h.e.history(ctx, from, until, func(x *entry) error { return fn(x.ev) })
}

// Oldest is the first event a client may resume from, and /api/events
// list (Events): the stream's first, or the ring's oldest when the
// stream's is not known yet. Safe for concurrent use.
func (e *Edge) Oldest() uint64 { return e.oldest() }

func (e *Edge) oldest() uint64 {
	first, _, _ := e.ring.bounds()
	if sf := e.streamFirst.Load(); sf != 0 && sf < first {
		return sf
	}
	return first
}

// Events returns up to limit events after sequence since, as the JSON the
// event log holds (the stream's payloads), for /api/events: nothing past
// the last event the edge delivered, nothing after math.MaxUint64. Events
// the stream no longer holds are an error (ErrTruncated), not skipped.
// Safe for concurrent use.
func (e *Edge) Events(since uint64, limit int) ([]json.RawMessage, error) {
	if since == math.MaxUint64 || limit <= 0 {
		return nil, nil
	}
	from := since + 1
	_, next, _ := e.ring.bounds()
	if from >= next {
		return nil, nil
	}
	until := next
	if uint64(limit) < next-from {
		until = from + uint64(limit)
	}
	if oldest := e.oldest(); from < oldest {
		return nil, fmt.Errorf("%w: events %d-%d (the stream starts at %d)", ErrTruncated, from, oldest-1, oldest)
	}
	ctx, cancel := e.historyContext()
	defer cancel()
	out := make([]json.RawMessage, 0, until-from)
	err := e.history(ctx, from, until, func(x *entry) error {
		out = append(out, x.raw)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// historyContext bounds one history read: Config.HistoryTimeout, and the
// edge's Close.
func (e *Edge) historyContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.HistoryTimeout)
	go func() {
		select {
		case <-e.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// history calls fn with the events [from, until) in order: from the ring
// those it holds, a chunk at a time, and from the stream those before it.
func (e *Edge) history(ctx context.Context, from, until uint64, fn func(*entry) error) error {
	for from < until {
		evs, first, next, anchor := e.ring.read(from, int(min(until-from, replayChunk)))
		switch {
		case len(evs) > 0:
			for i := range evs {
				if err := fn(&evs[i]); err != nil {
					return err
				}
			}
			from += uint64(len(evs))
		case from >= next:
			return fmt.Errorf("events %d-%d: the edge has delivered up to %d", from, until-1, next-1)
		default: // before the ring: the stream, up to the ring's oldest
			upto := min(until, first) - 1
			if err := e.fromStream(ctx, from, upto, first-1, anchor, fn); err != nil {
				if errors.Is(err, ErrChain) {
					e.chainFails.Add(1)
					e.cfg.Logger.Warn("edge: chain failure in the stream's history: nothing of it delivered", "stream", e.cfg.Stream,
						"from", from, "to", upto, "err", err)
				}
				return err
			}
			from = upto + 1
		}
	}
	return nil
}

// fromStream calls fn with the stream's events [from, upto], each chunk
// once it is checked; top is a verified event at or after upto, topHash
// its hash.
func (e *Edge) fromStream(ctx context.Context, from, upto, top uint64, topHash string, fn func(*entry) error) error {
	select {
	case e.streamReads <- struct{}{}:
		defer func() { <-e.streamReads }()
	case <-ctx.Done():
		return fmt.Errorf("events %d-%d from the stream: %w", from, upto, ctx.Err())
	}
	if hook := e.tune.readHook; hook != nil {
		if err := hook(ctx); err != nil {
			return fmt.Errorf("events %d-%d from the stream: %w", from, upto, err)
		}
	}
	end := e.chunkEnd(upto, top)
	if err := e.learn(ctx, from, end, top, topHash); err != nil {
		return err
	}
	r, err := e.openReader(ctx, from)
	if err != nil {
		return err
	}
	defer r.stop()
	chunk := make([]entry, 0, min(e.tune.markEvery, end-from+1))
	for pos := from; pos <= upto; {
		stop := e.chunkEnd(pos, top)
		want, ok := topHash, stop == top
		if !ok {
			if want, ok = e.marks.get(stop); !ok {
				return fmt.Errorf("no verified hash of event %d to check events %d-%d against", stop, pos, stop)
			}
		}
		chunk = chunk[:0]
		hash := ""
		for s := pos; s <= stop; s++ {
			x, h, err := r.read(ctx)
			if err != nil {
				return err
			}
			chunk, hash = append(chunk, x), h
		}
		if hash != want {
			return fmt.Errorf("%w: event %d hashes to %s, the edge verified %s: events %d-%d are not the run's", ErrChain, stop, hash, want, pos, stop)
		}
		for i := range chunk {
			if chunk[i].ev.Seq > upto {
				break
			}
			if err := fn(&chunk[i]); err != nil {
				return err
			}
		}
		pos = stop + 1
	}
	return nil
}

// chunkEnd is the last event of the chunk that holds seq: the next mark,
// or top.
func (e *Edge) chunkEnd(seq, top uint64) uint64 {
	k := e.tune.markEvery
	return min((seq+k-1)/k*k, top)
}

// learn makes sure the edge knows the mark of every chunk of [from, end]
// below top, reading the stream back from the lowest anchor above the
// highest missing one, a span at a time.
func (e *Edge) learn(ctx context.Context, from, end, top uint64, topHash string) error {
	k := e.tune.markEvery
	low := (from + k - 1) / k * k // the lowest mark needed
	missing := uint64(0)
	for m := low; m <= end && m < top; m += k {
		if _, ok := e.marks.get(m); !ok {
			missing = m
		}
	}
	if missing == 0 {
		return nil
	}
	// The anchor: the first known mark at or above the highest missing
	// one, or top.
	b, bHash := top, topHash
	for m := missing + k; m < top; m += k {
		if h, ok := e.marks.get(m); ok {
			b, bHash = m, h
			break
		}
	}
	for b >= low {
		a := max(low, b-min(b, e.tune.learnSpan)+1)
		prevA, err := e.learnSpan(ctx, a, b, bHash)
		if err != nil {
			return err
		}
		if a == low {
			return nil
		}
		b, bHash = a-1, prevA
		if h, ok := e.marks.get(b); ok && h != bHash {
			return fmt.Errorf("%w: event %d links to %s, the edge verified %s", ErrChain, b+1, bHash, h)
		}
		if !e.marksMissing(low, b) {
			return nil
		}
	}
	return nil
}

// marksMissing reports whether a mark in [low, upto] is unknown.
func (e *Edge) marksMissing(low, upto uint64) bool {
	for m := low; m <= upto; m += e.tune.markEvery {
		if _, ok := e.marks.get(m); !ok {
			return true
		}
	}
	return false
}

// learnSpan reads events [a, b] and checks that b hashes to bHash; then
// it keeps their marks and returns the Lineage-Prev of a, which the check
// makes the verified hash of event a-1. It checks the chain only (each
// record's hash and link): the events are decoded when they are read to
// be delivered.
func (e *Edge) learnSpan(ctx context.Context, a, b uint64, bHash string) (string, error) {
	r, err := e.openReader(ctx, a)
	if err != nil {
		return "", err
	}
	defer r.stop()
	type mark struct {
		seq  uint64
		hash string
	}
	var found []mark
	prevA, hash := "", ""
	for s := a; s <= b; s++ {
		_, prev, h, err := r.link(ctx)
		if err != nil {
			return "", err
		}
		if s == a {
			prevA = prev
		}
		if s%e.tune.markEvery == 0 {
			found = append(found, mark{s, h})
		}
		hash = h
	}
	if hash != bHash {
		return "", fmt.Errorf("%w: event %d hashes to %s, the edge verified %s: events %d-%d are not the run's", ErrChain, b, hash, bHash, a, b)
	}
	for _, m := range found {
		e.marks.put(m.seq, m.hash)
	}
	return prevA, nil
}
