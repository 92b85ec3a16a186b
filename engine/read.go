package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
)

// maxHistoryReaders bounds the readers of the event log a History has open
// at once (each holds a file descriptor); more wait for one to finish.
const maxHistoryReaders = 32

// History reads durable events back from the event log: resumes of
// WebSocket clients (it implements the hub's History) and the API's
// /api/events. At most maxHistoryReaders (32) reads run at once; more
// wait. It is safe for concurrent use, and valid until the Engine closes.
type History struct {
	l       *eventlog.Log
	readers chan struct{}
}

func newHistory(l *eventlog.Log) *History {
	return &History{l: l, readers: make(chan struct{}, maxHistoryReaders)}
}

// Oldest is the first sequence number kept: 1, the log keeps every event.
func (h *History) Oldest() uint64 { return 1 }

// iter waits for a reader's slot and opens an iterator at seq; done
// closes it and frees the slot.
func (h *History) iter(seq uint64) (it *eventlog.Iter, done func()) {
	h.readers <- struct{}{}
	it = h.l.Iter(seq)
	return it, func() {
		it.Close()
		<-h.readers
	}
}

// Replay calls fn with every durable event of sequence in [from, until),
// in order, until fn returns an error, which Replay returns.
func (h *History) Replay(from, until uint64, fn func(arena.Event) error) error {
	it, done := h.iter(max(from, 1))
	defer done()
	defer it.Close()
	for {
		rec, err := it.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if rec.Seq >= until {
			return nil
		}
		var e arena.Event
		if err := json.Unmarshal(rec.Payload, &e); err != nil {
			return fmt.Errorf("record %d: %w", rec.Seq, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Events returns up to limit durable events after sequence since, as the
// JSON the log holds. Nothing follows the largest sequence number (since+1
// would wrap to the start).
func (h *History) Events(since uint64, limit int) ([]json.RawMessage, error) {
	if since == math.MaxUint64 {
		return nil, nil
	}
	it, done := h.iter(since + 1)
	defer done()
	var out []json.RawMessage
	for len(out) < limit {
		rec, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if rec.Seq == 0 {
			continue
		}
		out = append(out, json.RawMessage(append([]byte(nil), rec.Payload...)))
	}
	return out, nil
}

// Records calls fn with every durable record of sequence in [from, until),
// in order, as the log holds it: record 0 is the genesis, records 1… the
// events, Payload the event's JSON, Hash and Prev the record's links in
// the hash chain, each checked as it is read. Payload is valid only until
// fn returns. Records stops at the first error fn returns, and returns it.
// A replica of the log (a JetStream stream) is built and checked from it.
func (h *History) Records(from, until uint64, fn func(eventlog.Record) error) error {
	it, done := h.iter(from)
	defer done()
	for {
		rec, err := it.Next()
		if errors.Is(err, io.EOF) || (err == nil && rec.Seq >= until) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
