package edge

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/lineage-arena/lineage/arena"
)

// entry is one verified event as the edge keeps it: decoded for the hub,
// its payload (the event log's JSON of it) for /api/events, and its
// Lineage-Prev, the hash of the event before it, with which the stream's
// older events are checked to join the ring.
type entry struct {
	ev   arena.Event
	raw  json.RawMessage
	prev string
}

// ring keeps the last events delivered (and verified), for clients that
// resume with ?since= and for /api/events; the stream holds what came
// before (history.go). Events come in sequence order, without gaps; the
// oldest go when it is full.
type ring struct {
	mu     sync.RWMutex
	buf    []entry // circular, cap entries
	head   int     // index of the oldest
	n      int
	first  uint64 // sequence of the oldest (when n > 0)
	next   uint64 // sequence after the newest
	before string // with n == 0: the hash of event next-1
}

func newRing(size int) *ring { return &ring{buf: make([]entry, size)} }

// reset empties the ring; the next event added is next, and before is
// the (verified) hash of the event before it.
func (r *ring) reset(next uint64, before string) {
	r.mu.Lock()
	clear(r.buf)
	r.head, r.n, r.first, r.next, r.before = 0, 0, next, next, before
	r.mu.Unlock()
}

// add appends events, which must follow the newest.
func (r *ring) add(evs []entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		if e.ev.Seq != r.next {
			return fmt.Errorf("ring: event %d does not follow %d", e.ev.Seq, r.next-1)
		}
		if r.n == len(r.buf) {
			r.buf[r.head] = entry{}
			r.head = (r.head + 1) % len(r.buf)
			r.n--
			r.first++
		}
		r.buf[(r.head+r.n)%len(r.buf)] = e
		r.n++
		r.next++
	}
	return nil
}

// bounds are the sequences the ring holds, [first, next), and the hash of
// event first-1 (the Lineage-Prev of the oldest kept): the anchor that the
// stream's events before the ring must hash to.
func (r *ring) bounds() (first, next uint64, anchor string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.boundsLocked()
}

func (r *ring) boundsLocked() (first, next uint64, anchor string) {
	anchor = r.before
	if r.n > 0 {
		anchor = r.buf[r.head].prev
	}
	return r.first, r.next, anchor
}

// read copies out at most max events from sequence from on, holding the
// lock for no more than that copy. With from outside the ring it copies
// nothing and returns the ring's bounds, as bounds does.
func (r *ring) read(from uint64, max int) (out []entry, first, next uint64, anchor string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	first, next, anchor = r.boundsLocked()
	if from < first || from >= next {
		return nil, first, next, anchor
	}
	n := min(uint64(max), next-from)
	out = make([]entry, 0, n)
	for s := from; s < from+n; s++ {
		out = append(out, r.buf[(r.head+int(s-first))%len(r.buf)])
	}
	return out, first, next, anchor
}
