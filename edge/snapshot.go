package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/lineage-arena/lineage/arena"
)

// advance returns the snapshot s moved forward by evs, the events after
// it, leaving s as it is (the hub keeps every snapshot it is given): the
// latest price of each symbol from market events, each agent's state from
// its agent events (an agent born since is added), the last round from
// round events. That is the state a client connected since s would hold;
// what no event carries — an agent's equity marked to every tick between
// its agent events — stays as of its last agent event.
func advance(s *arena.Snapshot, index map[string]int, evs []arena.Event) *arena.Snapshot {
	n := *s
	copied := false
	marks := false
	for i := range evs {
		e := &evs[i]
		n.Time, n.NextSeq = e.Time, e.Seq+1
		switch {
		case e.Market != nil:
			if !marks {
				n.Marks, marks = append([]arena.MarketEvent(nil), n.Marks...), true
			}
			for j := range n.Marks {
				if n.Marks[j].Symbol == e.Market.Symbol {
					n.Marks[j] = *e.Market
				}
			}
		case e.Agent != nil:
			if !copied {
				n.Agents, copied = append(make([]arena.AgentState, 0, len(n.Agents)+1), n.Agents...), true
			}
			if j, ok := index[e.Agent.ID]; ok && j < len(n.Agents) {
				n.Agents[j] = *e.Agent
			} else {
				index[e.Agent.ID] = len(n.Agents)
				n.Agents = append(n.Agents, *e.Agent)
			}
		case e.Round != nil:
			n.LastRound = e.Round
			n.Rounds++
		}
	}
	return &n
}

// indexAgents maps each agent's id to its place in s.Agents.
func indexAgents(s *arena.Snapshot) map[string]int {
	m := make(map[string]int, len(s.Agents))
	for i := range s.Agents {
		m[s.Agents[i].ID] = i
	}
	return m
}

// snapshot is the bucket's latest snapshot and where it stands.
type snapshot struct {
	seq  uint64
	hash string
	s    *arena.Snapshot
}

// fetchSnapshot reads the latest snapshot from the bucket.
func (e *Edge) fetchSnapshot(ctx context.Context) (snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	obs, err := e.js.ObjectStore(ctx, e.cfg.SnapshotBucket)
	if err != nil {
		return snapshot{}, fmt.Errorf("snapshot bucket %s: %w", e.cfg.SnapshotBucket, err)
	}
	res, err := obs.Get(ctx, SnapshotObject)
	if err != nil {
		return snapshot{}, fmt.Errorf("snapshot bucket %s: %w", e.cfg.SnapshotBucket, err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return snapshot{}, fmt.Errorf("snapshot bucket %s: %w", e.cfg.SnapshotBucket, err)
	}
	data, err := io.ReadAll(io.LimitReader(res, MaxSnapshotBytes+1))
	if err != nil {
		return snapshot{}, fmt.Errorf("read snapshot: %w", err)
	}
	if len(data) > MaxSnapshotBytes {
		return snapshot{}, fmt.Errorf("snapshot larger than %d bytes", MaxSnapshotBytes)
	}
	var s arena.Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return snapshot{}, fmt.Errorf("decode snapshot: %w", err)
	}
	seq, err := strconv.ParseUint(info.Headers.Get(HeaderSeq), 10, 64)
	hash := info.Headers.Get(HeaderHash)
	switch {
	case err != nil:
		return snapshot{}, fmt.Errorf("snapshot's %s header %q is not a sequence", HeaderSeq, info.Headers.Get(HeaderSeq))
	case s.NextSeq != seq+1:
		return snapshot{}, fmt.Errorf("snapshot tagged %d holds the state after event %d", seq, s.NextSeq-1)
	case !isHash(hash):
		return snapshot{}, fmt.Errorf("snapshot's %s header %q is not a hash", HeaderHash, hash)
	}
	return snapshot{seq: seq, hash: hash, s: &s}, nil
}

// loadSnapshot starts the edge from the bucket's latest snapshot: the hub
// stands at its sequence, and its events before it (Backfill, From) are
// read into the ring once the chain from them reaches its hash.
func (e *Edge) loadSnapshot(ctx context.Context) error {
	snap, err := e.fetchSnapshot(ctx)
	if err != nil {
		return err
	}
	from := snap.seq + 1
	switch {
	case e.cfg.From > 0:
		from = min(e.cfg.From, from)
	case uint64(e.cfg.Backfill) < snap.seq:
		from = snap.seq + 1 - uint64(e.cfg.Backfill)
	default:
		from = 1
	}
	if from <= snap.seq {
		if err := e.backfill(ctx, from, snap); err != nil {
			return err
		}
	} else {
		e.ring.reset(from, snap.hash)
	}
	e.marks.put(snap.seq, snap.hash)
	// Where the stream ends now, so the edge is not ready before it has
	// delivered what was in the stream past the snapshot (and where it
	// starts: Oldest, for the first clients).
	if _, err := e.streamBounds(ctx); err != nil {
		return fmt.Errorf("stream %s: %w", e.cfg.Stream, err)
	}
	e.cur, e.index, e.prev = snap.s, indexAgents(snap.s), snap.hash
	e.hub.SetLastSeq(snap.seq, snap.s)
	e.published.Store(snap.s)
	e.delivered.Store(snap.seq)
	e.snapSeq.Store(snap.seq)
	e.noteLast(snap.seq)
	e.hasSnap.Store(true)
	return nil
}

// backfill reads events from..snap.seq into the ring, checking the chain
// from the first of them to the snapshot's hash. The stream may have
// pruned the first ones: the ring starts where it does.
func (e *Edge) backfill(ctx context.Context, from uint64, snap snapshot) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout+time.Duration(snap.seq-from)*time.Millisecond)
	defer cancel()
	r, err := e.openReader(ctx, from)
	if err != nil {
		return err
	}
	defer r.stop()
	r.next = 0 // the first may be later than from
	var evs []entry
	for {
		x, hash, err := r.read(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: read events %d-%d: %w", e.cfg.Stream, from, snap.seq, err)
		}
		if x.ev.Seq > snap.seq {
			return fmt.Errorf("%w: the stream holds no event %d..%d (first %d): the snapshot is older than the stream",
				ErrChain, from, snap.seq, x.ev.Seq)
		}
		evs = append(evs, x)
		if x.ev.Seq == snap.seq {
			if hash != snap.hash {
				return fmt.Errorf("%w: event %d has hash %s, the snapshot's is %s", ErrChain, x.ev.Seq, hash, snap.hash)
			}
			e.ring.reset(evs[0].ev.Seq, evs[0].prev)
			// The marks among them: each is verified by the chain to
			// the snapshot's hash.
			for i := range evs[:len(evs)-1] {
				e.marks.put(evs[i].ev.Seq, evs[i+1].prev)
			}
			return e.ring.add(evs)
		}
	}
}
