package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/lineage-arena/lineage/internal/wsframe"
)

// A load client's connection is read and answered here with as little
// work per message as the checks allow: the load generator shares the
// machine with the server it measures. The handshake is gobwas/ws's; then
// one goroutine per connection reads up to readBuffer bytes at a time
// and wsframe parses whatever whole frames they hold, and every message of
// one read is stamped with that read's time.

// maxMessage is the largest message a client takes; a bigger one is a
// protocol error (1009).
const maxMessage = 1 << 20

// wsConn is a client's WebSocket connection after the handshake. Its
// socket is read by the client's goroutine alone; writes — pongs from that
// goroutine, a close from it or from the run — take wmu, so that frames
// never interleave.
type wsConn struct {
	nc    net.Conn
	early []byte // frames read along with the handshake's response

	wmu       sync.Mutex
	closeSent bool              // no frame is written after a close
	wbuf      [2 + 4 + 125]byte // a masked control frame
}

// serverClose is the server's close frame, as client.closeErr.
type serverClose struct {
	code   ws.StatusCode // 0 when the frame carried none
	reason string
}

func (e *serverClose) Error() string { return fmt.Sprintf("close frame %d %q", e.code, e.reason) }

// protocolError is a server frame that broke the protocol; the client
// closed the connection with the error's code.
type protocolError struct{ *wsframe.ProtocolError }

// dial opens c's connection and reports whether it succeeded. ctx
// cancels the dial and the handshake, and only them.
func (c *client) dial(ctx context.Context) bool {
	p := c.run.plan
	nd := net.Dialer{Timeout: 5 * time.Second}
	if len(p.sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: p.sources[c.idx%len(p.sources)].AsSlice()}
	}
	d := ws.Dialer{
		NetDial: nd.DialContext,
		Host:    p.host,
		Timeout: 10 * time.Second,
	}
	if p.cfg.Token != "" {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + p.cfg.Token}})
	}
	if p.scheme == "wss" {
		d.TLSConfig = &tls.Config{InsecureSkipVerify: true} // loopback only, to measure
	}
	c.dialStart = time.Now()
	nc, br, _, err := d.Dial(ctx, p.addr)
	if err != nil {
		c.dialErr = failReason(err)
		return false
	}
	lc := &wsConn{nc: nc}
	if br != nil {
		b, _ := br.Peek(br.Buffered())
		lc.early = append([]byte(nil), b...)
		ws.PutReader(br)
	}
	c.conn = lc
	if a, ok := nc.LocalAddr().(*net.TCPAddr); ok {
		c.local = a.AddrPort()
		c.local = netip.AddrPortFrom(c.local.Addr().Unmap(), c.local.Port())
	}
	return true
}

// readLoop reads c's connection until it ends: the server's close frame
// (answered), a protocol error (closed with its code), or the socket's
// end. Then it records how the connection ended and closes the socket.
func (c *client) readLoop() {
	lc := c.conn
	defer lc.nc.Close()
	f := &frames{c: c, rd: wsframe.NewClientSide(maxMessage)}
	if len(lc.early) > 0 {
		early := lc.early
		lc.early = nil
		if f.feed(early, time.Now()) {
			return
		}
	}
	buf := make([]byte, readBuffer)
	for {
		n, err := lc.nc.Read(buf)
		if n > 0 && f.feed(buf[:n], time.Now()) {
			return
		}
		if err != nil {
			c.ended(err)
			return
		}
	}
}

// ended records how c's connection ended; one that ends before the run
// closes it ended early.
func (c *client) ended(err error) {
	c.closeErr = err
	c.early = c.run.phase.Load() != phaseClosing
}

// frames hands a client the frames of its connection: it is the
// wsframe.Handler of the client's reads.
type frames struct {
	c   *client
	rd  wsframe.Reader
	now time.Time // when the bytes being parsed were read
}

// feed parses b, read at now, and reports whether the connection has
// ended (a close frame or a protocol error, recorded and answered).
func (f *frames) feed(b []byte, now time.Time) bool {
	f.now = now
	err := f.rd.Feed(b, f)
	switch {
	case err == nil:
		return false
	case err == wsframe.ErrStop:
		return true // Closed recorded and answered it
	}
	f.c.conn.close(err.Code, err.Reason)
	f.c.ended(protocolError{err})
	return true
}

// Message checks and counts a message. A slow client stops reading at its
// first message: its read loop waits here until the run releases it, and
// meanwhile reads nothing and answers no ping.
func (f *frames) Message(_ ws.OpCode, b []byte) {
	c := f.c
	c.receive(b, f.now)
	if c.slow && !c.stopped {
		c.stopped, c.stoppedAt = true, f.now
		c.markStopped()
		<-c.run.release
	}
}

// Ping answers at once: the server cuts a client whose pong is late.
func (f *frames) Ping(b []byte) { f.c.conn.pong(b) }

func (f *frames) Pong([]byte) {}

// Closed records the server's close frame and answers it with its code,
// unless the client's own close went first.
func (f *frames) Closed(code ws.StatusCode, reason string) {
	f.c.ended(&serverClose{code, reason})
	f.c.conn.close(code, "")
}

// pong writes a pong carrying payload, unless a close frame was sent.
func (lc *wsConn) pong(payload []byte) {
	lc.wmu.Lock()
	defer lc.wmu.Unlock()
	if !lc.closeSent {
		lc.writeLocked(ws.OpPong, payload)
	}
}

// close writes a close frame with code (none when 0) and reason (cut to
// fit, at a rune boundary), once; later calls do nothing. It waits for
// the write, for at most closeWait.
func (lc *wsConn) close(code ws.StatusCode, reason string) {
	lc.wmu.Lock()
	defer lc.wmu.Unlock()
	if lc.closeSent {
		return
	}
	lc.closeSent = true
	lc.nc.SetWriteDeadline(time.Now().Add(closeWait))
	lc.writeLocked(ws.OpClose, wsframe.CloseBody(code, reason))
}

// writeLocked writes a masked control frame carrying payload (125 bytes
// at most), in one write; wmu is held. A failed write is not reported:
// the read loop sees the connection's end.
func (lc *wsConn) writeLocked(op ws.OpCode, payload []byte) {
	f := lc.wbuf[:2+4+len(payload)]
	f[0], f[1] = 0x80|byte(op), 0x80|byte(len(payload))
	mask := ws.NewMask()
	copy(f[2:6], mask[:])
	copy(f[6:], payload)
	ws.Cipher(f[6:], mask, 0)
	lc.nc.Write(f)
}

// failReason names why a connection failed, in a few words that do not
// depend on the connection (so that they can be counted).
func failReason(err error) string {
	var (
		ne net.Error
		se ws.StatusError
	)
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("http %d", int(se))
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no local port left (use more --source-addrs)"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed during the handshake"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// closeReason names how a connection ended: the server's close code
// and its reason's words before any colon ("1008 too slow"), a protocol
// error of the server's, or how the socket ended ("eof, no close frame").
func closeReason(err error) string {
	var (
		sc *serverClose
		pe protocolError
	)
	switch {
	case errors.As(err, &sc) && sc.code == 0:
		return "close frame without code"
	case errors.As(err, &sc):
		reason, _, _ := strings.Cut(sc.reason, ":")
		return strings.TrimSpace(fmt.Sprintf("%d %s", sc.code, reason))
	case errors.As(err, &pe):
		return "protocol error: " + pe.Reason
	case err == nil:
		return "closed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof, no close frame"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset, no close frame"
	case errors.Is(err, net.ErrClosed):
		return "closed by loadtest"
	}
	return "error: " + failReason(err)
}
