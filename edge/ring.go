package edge

import (
	"fmt"
	"sync"

	"github.com/lineage-arena/lineage/arena"
)

// ring keeps the last events delivered (and verified), for clients that
// resume with ?since=: it is the hub's History. Events come in sequence
// order, without gaps; the oldest go when it is full.
type ring struct {
	mu    sync.RWMutex
	buf   []arena.Event // circular, cap entries
	head  int           // index of the oldest
	n     int
	first uint64 // sequence of the oldest (when n > 0)
	next  uint64 // sequence after the newest
}

func newRing(size int) *ring { return &ring{buf: make([]arena.Event, size)} }

// reset empties the ring; the next event added is next.
func (r *ring) reset(next uint64) {
	r.mu.Lock()
	clear(r.buf)
	r.head, r.n, r.first, r.next = 0, 0, next, next
	r.mu.Unlock()
}

// add appends events, which must follow the newest.
func (r *ring) add(evs []arena.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		if e.Seq != r.next {
			return fmt.Errorf("ring: event %d does not follow %d", e.Seq, r.next-1)
		}
		if r.n == len(r.buf) {
			r.buf[r.head] = arena.Event{}
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

// Oldest is the first sequence kept: with none kept, the next to come.
func (r *ring) Oldest() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.first
}

// Replay calls fn with the events of sequence [from, until), in order. It
// fails, rather than skip, when the oldest of them has left the ring
// since the hub asked Oldest, or the newest has not come.
func (r *ring) Replay(from, until uint64, fn func(arena.Event) error) error {
	if from >= until {
		return nil
	}
	r.mu.RLock()
	if from < r.first || until > r.next {
		first, next := r.first, r.next
		r.mu.RUnlock()
		return fmt.Errorf("events %d-%d: the ring holds %d-%d", from, until-1, first, next-1)
	}
	out := make([]arena.Event, 0, until-from)
	for s := from; s < until; s++ {
		out = append(out, r.buf[(r.head+int(s-r.first))%len(r.buf)])
	}
	r.mu.RUnlock()
	for _, e := range out {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
