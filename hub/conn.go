package hub

import (
	"time"

	"github.com/gobwas/ws"

	"github.com/lineage-arena/lineage/internal/wsframe"
)

// A connection's life after the upgrade. Its reader — the hub's poller,
// or readLoop where the poller cannot read it — hands what arrives to
// received, which parses it into frames and calls the wsframe.Handler
// methods below; there is one reader per connection, so they need no lock
// of their own. close sends a close frame through the writer and lingers
// for the client's answer; end forgets the connection.

// received takes bytes read from c's socket.
func (c *client) received(b []byte) {
	if c.readDone {
		return // closing: read only to see the client's end
	}
	if err := c.rd.Feed(b, c.frames()); err != nil {
		c.readDone = true
		if err != wsframe.ErrStop {
			c.hub.protoErrs.Add(1)
			c.close(uint16(err.Code), err.Reason)
		}
	}
}

// frames is c as the wsframe.Handler of its frames.
func (c *client) frames() clientFrames { return clientFrames{c} }

type clientFrames struct{ c *client }

// Message handles a client's text or binary message.
func (f clientFrames) Message(op ws.OpCode, payload []byte) {
	if !f.c.closing.Load() {
		f.c.inbound(op, payload)
	}
}

// Admit puts every frame through c's inbound rate limit.
func (f clientFrames) Admit(ws.OpCode) *wsframe.ProtocolError { return f.c.admit() }

func (f clientFrames) Ping(payload []byte)                 { f.c.ping(payload) }
func (f clientFrames) Pong(payload []byte)                 { f.c.pong(payload) }
func (f clientFrames) Closed(code ws.StatusCode, _ string) { f.c.closed(code) }

// ping answers a client's ping with a pong (it was admitted by the
// inbound rate limit like every frame).
func (c *client) ping(payload []byte) {
	if c.closing.Load() {
		return
	}
	c.mu.Lock()
	if !c.gone {
		c.sendLocked(controlFrame(opPong, payload))
	}
	c.mu.Unlock()
}

// closed handles the client's close frame: the answer to the hub's own,
// or a close to echo.
func (c *client) closed(code ws.StatusCode) {
	if c.closing.Load() {
		c.end()
		return
	}
	if code == 0 {
		code = ws.StatusNormalClosure
	}
	c.close(uint16(code), "")
}

// readLoop reads c on a goroutine of its own, for connections the poller
// cannot read.
func (c *client) readLoop() {
	buf := make([]byte, readBuffer)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.received(buf[:n])
		}
		if err != nil {
			c.end()
			return
		}
	}
}

// close sends a close frame with code and reason, once, and ends the
// connection gracefully: the hub stops writing (a TCP FIN) and reads on,
// for at most closeLinger, until the client answers with its own close
// frame or closes. Closing the socket at once would reset the connection
// whenever the client's frames are still arriving (a flood, say), and a
// reset can destroy the close frame before the client reads it. Whatever
// was queued is dropped. The frame goes out from c's writer: a running
// writer sends it after its write (which the shortened deadline hurries),
// else a new one starts. close never waits.
func (c *client) close(code uint16, reason string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	f := closeFrame(code, reason)
	c.mu.Lock()
	c.dropLocked()
	own := !c.draining
	if own {
		c.draining = true
	} else {
		c.closeMsg = f
	}
	c.mu.Unlock()
	if own {
		go c.sendClose(f)
		return
	}
	c.nc.SetWriteDeadline(c.hub.cfg.Now().Add(closeLinger))
}

// sendClose writes the close frame f as c's writer, the last write to c,
// and lingers.
func (c *client) sendClose(f []byte) {
	c.nc.SetWriteDeadline(c.hub.cfg.Now().Add(closeLinger))
	_, err := c.nc.Write(f)
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if err != nil || !ok || cw.CloseWrite() != nil {
		c.end()
		return
	}
	time.AfterFunc(closeLinger, c.end)
}

// end closes c's connection and forgets c, once.
func (c *client) end() {
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	h := c.hub
	h.poller.remove(c) // while the socket is open: epoll knows it by number
	c.nc.Close()
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.drop()
	h.conns.Add(-1)
	h.live.Done()
}
