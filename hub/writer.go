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
		batch, ping, ok := c.take()
		if !ok {
			return
		}
		if !c.write(batch, ping) {
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
		batch, ping, ok := c.take()
		if !ok {
			return
		}
		now := c.hub.cfg.Now()
		frames, msgs, payload, ok := c.prepare(batch, ping, now)
		if !ok {
			c.release()
			return
		}
		if len(frames) == 0 {
			continue
		}
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

// take takes what c's writer is to write next: the queue, and whether a
// ping is asked for. When there is nothing, or c is gone, it ends the
// writer's turn and reports false; once the hub is shutting down and the
// queue is written, it closes the connection.
func (c *client) take() (batch [][]byte, ping, ok bool) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		c.release()
		return nil, false, false
	}
	batch, ping = c.queue, c.pingQueued
	c.queue, c.pingQueued = nil, false
	if len(batch) == 0 && !ping {
		c.draining = false
		shutdown := c.shutdown
		c.mu.Unlock()
		if shutdown {
			c.close(1001, "server shutting down")
		}
		return nil, false, false
	}
	c.mu.Unlock()
	return batch, ping, true
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
// is due (or forced), and reports whether the client is still there. Only
// c's writer calls write; it may use frames' spare capacity. See prepare
// and writeWait.
func (c *client) write(frames [][]byte, forcePing bool) bool {
	now := c.hub.cfg.Now()
	frames, msgs, payload, ok := c.prepare(frames, forcePing, now)
	if !ok {
		return false
	}
	if len(frames) == 0 {
		return true
	}
	return c.writeWait(frames, msgs, payload, now)
}

// prepare adds to frames the ping that is due (or forced), and counts the
// messages among them and their payload bytes; ok is false when c is
// gone: nothing is written to it, for after its close frame a write would
// fail and reset a connection that is closing gracefully. A ping rides
// with data only when data written before has waited ackDelay
// unacknowledged: a steady stream carries one ping per ackDelay in its
// own writes. Data that comes in bursts is pinged by tick, ackDelay after
// the burst, so the pongs do not compete with the next burst's writes
// (for the clients' CPU and the hub's).
func (c *client) prepare(frames [][]byte, forcePing bool, now time.Time) (out [][]byte, msgs, payload int, ok bool) {
	// Messages are the text frames; pongs to the client's pings are not.
	data := len(frames)
	for _, f := range frames {
		if f[0]&0x0f == opText {
			msgs++
			payload += payloadLen(f)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return nil, 0, 0, false
	}
	// A ping is marked out before it is written: its pong may come back
	// before the write returns.
	due := !c.unackedAt.IsZero() && now.Sub(c.unackedAt) >= ackDelay
	if c.pingAt.IsZero() && (forcePing || data > 0 && due) {
		c.pingN++
		frames = append(frames, pingFrame(&c.pingBuf, c.pingN))
		c.pingAt, c.lastPing = now, now
		c.pingData = !c.unackedAt.IsZero() || data > 0
		c.unackedAt = time.Time{}
	} else if data > 0 && c.unackedAt.IsZero() {
		c.unackedAt = now
	}
	return frames, msgs, payload, true
}

// writeWait writes frames (msgs messages, payload bytes), waiting for the
// socket up to the write deadline, and reports whether it did. A write
// that outlasts the deadline cuts the client as too slow; any failed write
// ends the connection.
func (c *client) writeWait(frames [][]byte, msgs, payload int, now time.Time) bool {
	// The deadline is moved only when less than half of it is left: a
	// write gets between WriteTimeout/2 and WriteTimeout, and a busy
	// client costs one timer update per WriteTimeout/2, not one per batch.
	if wt := c.hub.cfg.WriteTimeout; c.deadline.Sub(now) < wt/2 {
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
