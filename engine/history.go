package engine

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
)

// committed is an event that is durable, with its record's hash.
type committed struct {
	event arena.Event
	hash  [32]byte
	// buried: a death before the checkpoint a restart rebuilt from whose
	// tombstone exists; only its agent is known (see Engine.olderDeaths).
	buried bool
}

// history is the arena's sink: every event is appended to the log as
// JSON, and handed to the observers only after Commit has made it durable.
// Nothing is shown, counted or broadcast before it is on disk.
//
// A write failure does not lose an event the arena emitted: an event the
// log refuses (it is in its failed state, see eventlog.Log) waits in
// queued, in order, and Commit appends it once a Sync has repaired the log.
// Commit fails until every event emitted is durable; the caller emits
// nothing new meanwhile, so what waits is at most one time step.
type history struct {
	log       *eventlog.Log
	pending   []committed   // appended, not yet durable
	queued    []arena.Event // emitted, not yet appended: the log failed
	observers []func(committed)
	// batch, if set, sees each commit's events together, after observers.
	batch func([]committed)
}

func (h *history) Emit(e arena.Event) error {
	if len(h.queued) > 0 {
		h.queued = append(h.queued, e)
		return nil
	}
	err := h.append(e)
	if errors.Is(err, eventlog.ErrWriteFailed) {
		h.queued = append(h.queued, e)
		return nil
	}
	return err
}

// append appends e to the log and to pending.
func (h *history) append(e arena.Event) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	hash, err := h.log.Append(e.Seq, e.Time, string(e.Type), payload)
	if err != nil {
		return fmt.Errorf("append event %d: %w", e.Seq, err)
	}
	h.pending = append(h.pending, committed{event: e, hash: hash})
	return nil
}

// Commit makes every event emitted so far durable (one fsync: group
// commit), then hands them to the observers in order. An error wrapping
// eventlog.ErrWriteFailed leaves every event not yet durable where it was,
// and Commit may be called again.
func (h *history) Commit() error {
	if len(h.queued) > 0 {
		// The log failed: repair it, then append what it refused.
		if err := h.log.Sync(); err != nil {
			return err
		}
		for len(h.queued) > 0 {
			if err := h.append(h.queued[0]); err != nil {
				return err
			}
			h.queued[0] = arena.Event{}
			h.queued = h.queued[1:]
		}
		h.queued = nil
	}
	if err := h.log.Sync(); err != nil {
		return err
	}
	for _, c := range h.pending {
		for _, o := range h.observers {
			o(c)
		}
	}
	if len(h.pending) > 0 && h.batch != nil {
		h.batch(h.pending)
	}
	clear(h.pending)
	h.pending = h.pending[:0]
	return nil
}
