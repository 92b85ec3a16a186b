package edge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
)

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
