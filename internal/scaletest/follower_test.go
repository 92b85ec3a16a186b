//go:build integration

package scaletest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/client"
)

// forgedSymbol marks the content of an event forged into the stream
// (TestNATSFaults): a follower that gets any message holding it fails.
const forgedSymbol = "FORGED-USD"

// follower is one protocol client that moves between edges: it follows
// one edge with the client package and, when its connection ends, resumes
// on the other edge after the last sequence it read (Options.Resume). It
// checks every event as it comes: an unfiltered follower must get each
// sequence once, one after the other; a filtered one, strictly increasing
// sequences (the set is checked against the unfiltered ones at the end).
type follower struct {
	id     int
	urls   []string // the edges' WebSocket URLs
	on     int      // the edge it dials next
	opts   client.Options
	types  []string // the filter's event types; nil: unfiltered
	record bool     // keeps each sequence's type and arrival time

	mu       sync.Mutex
	start    uint64 // the first welcome's sequence
	last     uint64 // the last event delivered
	seen     uint64 // the last sequence read, delivered or filtered out
	seqs     []uint64
	types0   map[uint64]string
	arrivals []arrival
	problems []string
	drops    []time.Time // when a connection ended
	resumed  []time.Time // the first event after each drop
	edges    []int       // the edge of each connection
}

type arrival struct {
	seq uint64
	at  time.Time
}

func (f *follower) run(ctx context.Context) {
	dialed, since, moved := false, uint64(0), false
	for ctx.Err() == nil {
		o := f.opts
		o.NoReconnect = true
		o.HandshakeTimeout = 5 * time.Second
		if dialed {
			o.Resume, o.Since = true, since
		}
		c, err := client.Dial(ctx, f.urls[f.on], o)
		if err != nil {
			f.on = 1 - f.on // that edge is gone: the other one
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			continue
		}
		f.mu.Lock()
		if !dialed {
			f.start, f.last, f.seen = c.Welcome().Sequence, c.Welcome().Sequence, c.Welcome().Sequence
			dialed = true
		}
		f.edges = append(f.edges, f.on)
		f.mu.Unlock()
		for {
			m, err := c.Next(ctx)
			if err != nil {
				since = c.Last()
				c.Close()
				if ctx.Err() == nil {
					f.mu.Lock()
					f.drops = append(f.drops, time.Now())
					f.mu.Unlock()
					f.on, moved = 1-f.on, true
				}
				break
			}
			if m.Type == client.TypeResume && m.Code == client.CodeTruncated {
				f.fail("resume truncated: events %d.. were lost", m.From)
			}
			if bytes.Contains(m.Raw, []byte(forgedSymbol)) {
				f.fail("got the forged event: %s", m.Raw)
			}
			if !m.Event || m.Snapshot {
				continue
			}
			now := time.Now()
			f.mu.Lock()
			switch {
			case f.types == nil && m.Sequence != f.last+1:
				f.problems = append(f.problems, fmt.Sprintf("event %d after %d", m.Sequence, f.last))
			case f.types != nil && m.Sequence <= f.last:
				f.problems = append(f.problems, fmt.Sprintf("event %d again after %d", m.Sequence, f.last))
			case f.types != nil && !slices.Contains(f.types, m.Type):
				f.problems = append(f.problems, fmt.Sprintf("event %d of type %s past the filter", m.Sequence, m.Type))
			}
			f.last, f.seen = m.Sequence, c.Last()
			if f.types != nil {
				f.seqs = append(f.seqs, m.Sequence)
			}
			if f.record {
				f.types0[m.Sequence] = m.Type
				f.arrivals = append(f.arrivals, arrival{m.Sequence, now})
			}
			if moved {
				f.resumed = append(f.resumed, now)
				moved = false
			}
			f.mu.Unlock()
		}
	}
}

func (f *follower) fail(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// fleet is the followers of a test.
type fleet struct {
	fs     []*follower
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// filters are the followers' filters, taken in turn with the schemas.
var filters = [][]string{nil, {client.TypeMarket}, nil, {client.TypeAgent}, nil, {client.TypeTrade, client.TypeDeath, client.TypeSpawn, client.TypeScar, client.TypeRound}}

// follow starts perEdge followers on each edge: v1 and v2 in turn, a
// third of them filtered by event type; the first two unfiltered ones
// of each edge record every event.
func follow(t *testing.T, perEdge int, edges ...string) *fleet {
	ctx, cancel := context.WithCancel(t.Context())
	fl := &fleet{cancel: cancel}
	for e := range edges {
		recorded := 0
		for i := range perEdge {
			f := &follower{id: len(fl.fs), urls: edges, on: e, types: filters[i%len(filters)], types0: map[uint64]string{}}
			f.opts.Schema = []string{"v1", "v2"}[(i/2)%2]
			if f.types != nil {
				f.opts.Filter.Events = f.types
			} else if recorded < 2 {
				f.record = true
				recorded++
			}
			fl.fs = append(fl.fs, f)
			fl.wg.Go(func() { f.run(ctx) })
		}
	}
	t.Cleanup(fl.stop)
	return fl
}

func (fl *fleet) stop() {
	fl.cancel()
	fl.wg.Wait()
}

// reach waits for every follower to have read sequence seq. A filtered
// follower reads a sequence only with an event of its types at or past it
// (a round's comes every few seconds).
func (fl *fleet) reach(t *testing.T, seq uint64, within time.Duration) {
	t.Helper()
	fl.reachIf(t, seq, within, "every follower", func(*follower) bool { return true })
}

// reachUnfiltered waits for every unfiltered follower to have read
// sequence seq.
func (fl *fleet) reachUnfiltered(t *testing.T, seq uint64, within time.Duration) {
	t.Helper()
	fl.reachIf(t, seq, within, "every unfiltered follower", func(f *follower) bool { return f.types == nil })
}

func (fl *fleet) reachIf(t *testing.T, seq uint64, within time.Duration, who string, which func(*follower) bool) {
	t.Helper()
	poll(t, within, fmt.Sprintf("%s at event %d", who, seq), func() bool {
		for _, f := range fl.fs {
			f.mu.Lock()
			s := f.seen
			f.mu.Unlock()
			if which(f) && s < seq {
				return false
			}
		}
		return true
	})
}

// drops counts the connections that ended, over all followers.
func (fl *fleet) drops() int {
	n := 0
	for _, f := range fl.fs {
		f.mu.Lock()
		n += len(f.drops)
		f.mu.Unlock()
	}
	return n
}

// check stops the followers and fails the test with any follower's
// problem, and with any filtered follower whose events are not exactly
// those of its types that the recording followers got, over the span it
// followed.
func (fl *fleet) check(t *testing.T) {
	t.Helper()
	fl.stop()
	ref := map[uint64]string{}
	for _, f := range fl.fs {
		for s, ty := range f.types0 {
			ref[s] = ty
		}
	}
	// The followers start one after another: a filtered one may have
	// connected before every recording one; and they stop one after
	// another: a filtered one may have read an event after every recording
	// one stopped. Compare from the first to the last event a recording
	// follower got.
	refFirst, refLast := uint64(math.MaxUint64), uint64(0)
	for s := range ref {
		refFirst, refLast = min(refFirst, s), max(refLast, s)
	}
	bad := 0
	for _, f := range fl.fs {
		for _, p := range f.problems {
			if bad++; bad <= 20 {
				t.Errorf("follower %d (%s, filter %v): %s", f.id, f.opts.Schema, f.types, p)
			}
		}
		if f.types == nil {
			continue
		}
		var want []uint64
		begin, end := max(f.start+1, refFirst), min(f.last, refLast)
		for s := begin; s <= end; s++ {
			ty, ok := ref[s]
			if !ok {
				t.Fatalf("event %d: no recording follower got it", s)
			}
			if slices.Contains(f.types, ty) {
				want = append(want, s)
			}
		}
		got := f.seqs
		for len(got) > 0 && got[0] < begin {
			got = got[1:]
		}
		for len(got) > 0 && got[len(got)-1] > end {
			got = got[:len(got)-1]
		}
		if !slices.Equal(got, want) {
			if bad++; bad <= 20 {
				t.Errorf("follower %d (filter %v): %d events, want %d of those the unfiltered got", f.id, f.types, len(got), len(want))
			}
		}
	}
}

// stall is the longest wait between two events a recording follower got,
// the second after since.
func (fl *fleet) stall(since time.Time) time.Duration {
	var worst time.Duration
	for _, f := range fl.fs {
		f.mu.Lock()
		for i := 1; i < len(f.arrivals); i++ {
			if f.arrivals[i].at.After(since) {
				worst = max(worst, f.arrivals[i].at.Sub(f.arrivals[i-1].at))
			}
		}
		f.mu.Unlock()
	}
	return worst
}
