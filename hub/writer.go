package hub

import (
	"errors"
	"os"
	"time"
)

// A client's writer: one goroutine at a time takes the client's queue and
// writes it (see client.draining). The fan-out and the pinger start
// writers with drainNow, which never waits on a socket; everything else,
// and a drainNow whose socket is full, runs drain.

// drain is c's writer: it writes what is queued, batch by batch, with the
// ping asked for if any, until there is nothing left, waiting on the
// socket as long as the write deadline lets it.
func (c *client) drain() {
	for {
		now := c.hub.cfg.Now()
		frames, ok := c.take(now)
		if !ok {
			return
		}
		if len(frames) == 0 {
			continue
		}
		msgs, payload := countText(frames)
		if !c.writeWait(frames, msgs, payload, now) {
			c.release()
			return
		}
	}
}

// drainNow is the writer the fan-out starts: its writes are tried without
// waiting, so a few goroutines write a whole burst to every client, and
// only a client whose socket cannot take all of its data at once gets a
// goroutine of its own (drain) to wait with the rest.
func (c *client) drainNow() {
	for {
		now := c.hub.cfg.Now()
		frames, ok := c.take(now)
		if !ok {
			return
		}
		if len(frames) == 0 {
			continue
		}
		msgs, payload := countText(frames)
		n, err := tryWritev(c.rc, frames)
		if err != nil {
			c.failed(err)
			c.release()
			return
		}
		if rest := consume(frames, n); rest != nil {
			go func() {
				if !c.writeWait(rest, msgs, payload, now) {
					c.release()
					return
				}
				c.drain()
			}()
			return
		}
		c.hub.count(msgs, payload)
	}
}

// consume drops the first n bytes of frames, and returns what is left
// (nil: nothing).
func consume(frames [][]byte, n int) [][]byte {
	for len(frames) > 0 && n >= len(frames[0]) {
		n -= len(frames[0])
		frames = frames[1:]
	}
	if len(frames) == 0 {
		return nil
	}
	frames[0] = frames[0][n:]
	return frames
}

// take takes what c's writer is to write next, at now: the queue, with
// the ping that is due or asked for (see pingLocked), under one
// acquisition of c's lock. When there is nothing, or c is gone, it ends
// the writer's turn and reports false; once the hub is shutting down and
// the queue is written, it closes the connection. It may report true with
// no frames: a ping asked for while another is out is not sent.
func (c *client) take(now time.Time) (frames [][]byte, ok bool) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		c.release()
		return nil, false
	}
	batch, ping := c.queue, c.pingQueued
	c.queue, c.queued, c.pingQueued = nil, 0, false
	c.sentSeq = c.queuedSeq
	if len(batch) == 0 && !ping {
		c.draining = false
		shutdown := c.shutdown
		c.mu.Unlock()
		if shutdown {
			c.close(1001, "server shutting down")
		}
		return nil, false
	}
	frames = c.pingLocked(batch, ping, now)
	c.mu.Unlock()
	return frames, true
}

// release ends the writer's turn; a close frame left for it goes out
// first, from a goroutine of its own (see close).
func (c *client) release() {
	c.mu.Lock()
	f := c.closeMsg
	c.closeMsg = nil
	if f == nil {
		c.draining = false
	}
	c.mu.Unlock()
	if f != nil {
		go c.sendClose(f)
	}
}

// write sends frames in one writev(2), with a ping after them when one
// is due (or forced), and reports whether the client is still there:
// nothing is written to a client that is gone, for after its close frame
// a write would fail and reset a connection that is closing gracefully.
// Only c's writer calls write; it may use frames' spare capacity.
func (c *client) write(frames [][]byte, forcePing bool) bool {
	now := c.hub.cfg.Now()
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return false
	}
	frames = c.pingLocked(frames, forcePing, now)
	c.mu.Unlock()
	if len(frames) == 0 {
		return true
	}
	msgs, payload := countText(frames)
	return c.writeWait(frames, msgs, payload, now)
}

// pingLocked returns frames with the ping that is due (or forced) after
// them; c.mu is held. A ping rides with data when the data written before
// has waited ackRide, or is due for one anyway (ackDueLocked): a stream of
// a step a second or more carries its pings in its own writes, one per
// ackRide or so, and tick writes a ping by itself only for data that
// waited ackMax. A ping is marked out before it is written: its pong may
// come back before the write returns.
func (c *client) pingLocked(frames [][]byte, forcePing bool, now time.Time) [][]byte {
	data := len(frames)
	ride := data > 0 && !c.unackedAt.IsZero() && now.Sub(c.unackedAt) >= ackRide
	if c.pingAt.IsZero() && (forcePing || ride || data > 0 && c.ackDueLocked(now)) {
		c.pingN++
		frames = append(frames, pingFrame(&c.pingBuf, c.pingN))
		c.pingAt, c.lastPing = now, now
		c.pingData = !c.unackedAt.IsZero() || data > 0
		c.pingSeq = c.sentSeq
		c.unackedAt = time.Time{}
	} else if data > 0 && c.unackedAt.IsZero() {
		c.unackedAt, c.probed = now, false
	}
	return frames
}

// countText counts the messages among frames — the text frames; pings
// and pongs are not messages — and their payload bytes.
func countText(frames [][]byte) (msgs, payload int) {
	for _, f := range frames {
		if f[0]&0x0f == opText {
			msgs++
			payload += payloadLen(f)
		}
	}
	return msgs, payload
}

// writeWait writes frames (msgs messages, payload bytes), waiting for the
// socket up to the write deadline, and reports whether it did. A write
// that outlasts the deadline cuts the client as too slow; any failed write
// ends the connection.
func (c *client) writeWait(frames [][]byte, msgs, payload int, now time.Time) bool {
	// The deadline is moved only when less than three quarters of it are
	// left: a write gets between 3/4 of WriteTimeout and all of it, and a
	// busy client costs one timer update per WriteTimeout/4, not one per
	// batch.
	if wt := c.hub.cfg.WriteTimeout; c.deadline.Sub(now) < wt*3/4 {
		c.deadline = now.Add(wt)
		c.nc.SetWriteDeadline(c.deadline)
	}
	if err := writeFrames(c.nc, frames); err != nil {
		c.failed(err)
		return false
	}
	c.hub.count(msgs, payload)
	return true
}

// failed ends c after a write failed with err.
func (c *client) failed(err error) {
	c.mu.Lock()
	if errors.Is(err, os.ErrDeadlineExceeded) && !c.closing.Load() {
		c.markSlowLocked("too slow: a write timed out")
	}
	c.dropLocked()
	c.mu.Unlock()
	c.end()
}
