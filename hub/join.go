package hub

import (
	"fmt"

	"github.com/lineage-arena/lineage/arena"
)

// What a joining client gets before it goes live: the welcome, then the
// current state (a snapshot) or the history it asked for (?since=N).

// start welcomes the client, then sends the history it asked for or the
// current state, then lets its live queue flow. last is the sequence of
// the last event published before the client joined: the history covers
// up to it, and the queue holds everything after it.
func (c *client) start(last uint64, snap *arena.Snapshot) {
	h := c.hub
	// The first write carries the first ping: whether a new client reads
	// is known within SlowTimeout, at no cost of a write.
	out := &batch{c: c, ping: true}
	out.add(frame(mustJSON(welcomeMsg{Type: "welcome", ClientID: c.id, Timestamp: h.cfg.Now().UTC(), Message: WelcomeText, Sequence: last})))
	var ok bool
	if c.resume {
		ok = c.replay(out, last, snap)
	} else {
		c.snapshot(out, last, snap)
		ok = out.flush()
	}
	if !ok {
		c.release()
		return
	}
	c.mu.Lock()
	c.catchingUp = false
	c.mu.Unlock()
	c.drain()
}

// batch gathers frames for a client and writes them replayBatch at a time.
type batch struct {
	c      *client
	frames [][]byte
	ping   bool // the next write carries a ping
}

// replayBatch is how many frames of history go out in one write.
const replayBatch = 256

func (b *batch) add(f []byte) bool {
	b.frames = append(b.frames, f)
	if len(b.frames) >= replayBatch {
		return b.flush()
	}
	return true
}

func (b *batch) flush() bool {
	if len(b.frames) == 0 {
		return true
	}
	ok := b.c.write(b.frames, b.ping)
	b.frames, b.ping = b.frames[:0], false
	return ok
}

// replay writes the history after c.since up to last (or says why it
// cannot) after what out holds.
func (c *client) replay(out *batch, last uint64, snap *arena.Snapshot) bool {
	h := c.hub
	info := func(m infoMsg) { out.add(frame(mustJSON(m))) }
	if h.cfg.History == nil {
		info(infoMsg{Type: "resume", Code: "unavailable", Message: "this server keeps no history to resume from; sending the current state", Sequence: last})
		c.snapshot(out, last, snap)
		return out.flush()
	}
	from := c.since + 1
	switch oldest := h.cfg.History.Oldest(); {
	case c.since > last:
		info(infoMsg{Type: "resume", Code: "ahead", Sequence: last,
			Message: fmt.Sprintf("since=%d is ahead of the server's last sequence %d; streaming live from here", c.since, last)})
		return out.flush()
	case from < oldest:
		info(infoMsg{Type: "resume", Code: "truncated", From: oldest, To: last, Sequence: last,
			Message: fmt.Sprintf("events %d to %d are no longer kept; resuming from %d", from, oldest-1, oldest)})
		from = oldest
	}
	ok := true
	err := h.cfg.History.Replay(from, last+1, func(e arena.Event) error {
		if !c.wants(&e) {
			return nil
		}
		b, err := encode(&e, c.schema, false)
		if err != nil {
			return err
		}
		if ok = out.add(frame(b)); !ok {
			return errGone
		}
		return nil
	})
	if err != nil && ok {
		h.cfg.Logger.Error("resume", "client", c.id, "err", err)
		c.close(1011, "cannot read history")
		return false
	}
	return ok && out.flush()
}

var errGone = fmt.Errorf("client gone")

// snapshot adds to out the latest price of every symbol and the state of
// every agent as they stood after event last, marked "snapshot":true, so
// a fresh dashboard is never blank. A client without a subscription (every
// client, unless its subscribe came before its welcome went out) gets the
// frames the hub made once for every client joining after the same event.
func (c *client) snapshot(out *batch, last uint64, s *arena.Snapshot) {
	if s == nil {
		return
	}
	c.mu.Lock()
	f := c.filter
	c.mu.Unlock()
	if f == nil {
		out.frames = append(out.frames, c.hub.snapshotFrames(last, s, c.schema)...)
		return
	}
	out.frames = append(out.frames, frameSnapshot(last, s, c.schema, f)...)
}

// frameSnapshot frames, in schema, the events of snapshot s after event
// last that f lets through.
func frameSnapshot(last uint64, s *arena.Snapshot, schema Schema, f *filter) [][]byte {
	var frames [][]byte
	add := func(e arena.Event) {
		if !f.wants(&e) {
			return
		}
		b, err := encode(&e, schema, true)
		if err == nil {
			frames = append(frames, frame(b))
		}
	}
	for i := range s.Marks {
		if s.Marks[i].Price > 0 {
			add(arena.Event{Seq: last, Time: s.Time, Type: arena.EventMarket, Market: &s.Marks[i]})
		}
	}
	for i := range s.Agents {
		add(arena.Event{Seq: last, Time: s.Time, Type: arena.EventAgent, Agent: &s.Agents[i]})
	}
	return frames
}

// encode encodes e in schema; snapshot marks the message as part of a
// snapshot, in either schema.
func encode(e *arena.Event, schema Schema, snapshot bool) ([]byte, error) {
	if schema == V2 {
		return encodeV2(e, snapshot)
	}
	return encodeV1(e, snapshot)
}
