package hub

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/gobwas/ws"

	"github.com/lineage-arena/lineage/internal/wsframe"
)

// The hub writes its frames itself, already framed: an event is framed
// once per schema and the same bytes go to every client, and a client's
// whole backlog leaves in one write (writeFrames). Server frames are never
// masked and the hub never compresses, so a frame is a header and the
// payload. Every frame to a client, control frames included, goes out from
// its one writer, so frames never interleave.

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xa
	finBit  = 0x80
)

// frame returns payload as one unmasked, final text frame.
func frame(payload []byte) []byte {
	n := len(payload)
	var f []byte
	switch {
	case n < 126:
		f = append(make([]byte, 0, 2+n), finBit|opText, byte(n))
	case n <= 0xffff:
		f = append(make([]byte, 0, 4+n), finBit|opText, 126, 0, 0)
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f = append(make([]byte, 0, 10+n), finBit|opText, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(f[2:], uint64(n))
	}
	return append(f, payload...)
}

// payloadLen is the payload size of a frame made by frame or pingFrame.
func payloadLen(f []byte) int {
	switch f[1] & 0x7f {
	case 126:
		return len(f) - 4
	case 127:
		return len(f) - 10
	}
	return len(f) - 2
}

// pingFrame writes into buf a ping frame carrying n, the number the pong
// must echo, and returns it.
func pingFrame(buf *[6]byte, n uint32) []byte {
	buf[0], buf[1] = finBit|opPing, 4
	binary.BigEndian.PutUint32(buf[2:], n)
	return buf[:]
}

// controlFrame returns a control frame (op) carrying payload, which the
// caller keeps within 125 bytes (a client's ping payload always is).
func controlFrame(op byte, payload []byte) []byte {
	return append([]byte{finBit | op, byte(len(payload))}, payload...)
}

// closeFrame returns a close frame with code and reason, the reason cut to
// fit a control frame's 125 bytes (at a rune boundary).
func closeFrame(code uint16, reason string) []byte {
	return controlFrame(opClose, wsframe.CloseBody(ws.StatusCode(code), reason))
}

// writeFrames writes frames to conn in one call: writev(2) on a TCP
// connection; on others (TLS) joined into one buffer first, so that a
// backlog goes out as few records, not one per frame. It may change the
// elements of frames.
func writeFrames(conn net.Conn, frames [][]byte) error {
	if _, ok := conn.(*net.TCPConn); ok {
		bufs := net.Buffers(frames)
		_, err := bufs.WriteTo(conn)
		return err
	}
	bp := joinPool.Get().(*[]byte)
	b := (*bp)[:0]
	for _, f := range frames {
		b = append(b, f...)
	}
	_, err := conn.Write(b)
	if cap(b) <= 1<<20 { // a rare huge backlog is not kept
		*bp = b
		joinPool.Put(bp)
	}
	return err
}

var joinPool = sync.Pool{New: func() any { return new([]byte) }}
