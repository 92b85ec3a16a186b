// Package wsframe parses WebSocket frames (RFC 6455) from bytes as they
// come off a socket, in whatever pieces: whole frames are handled at once,
// and only the start of an incomplete frame is kept. The hub reads its
// clients with it (masked frames, from an epoll loop), and the load
// generator the server (unmasked frames). The protocol's rules — masking,
// reserved bits and opcodes, control frame limits, fragmentation, close
// codes, UTF-8 — are checked with gobwas/ws. CloseBody makes the close
// payload both of them write.
package wsframe

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Reader parses the frames one side of a connection sends. Between calls
// it keeps only the start of an incomplete frame (and a fragmented
// message's payload so far): a reader with nothing pending holds no
// buffer. Payloads are unmasked in place.
type Reader struct {
	partial []byte    // the start of an incomplete frame; nil when none
	msg     []byte    // a fragmented message's payload so far
	msgOp   ws.OpCode // its opcode (text or binary)
	state   ws.State  // the side read; fragmented inside a fragmented message
	limit   int64
}

// NewServerSide returns a Reader of a client's frames, as a server reads
// them (masked), taking messages of up to limit bytes.
func NewServerSide(limit int) Reader {
	return Reader{state: ws.StateServerSide, limit: int64(limit)}
}

// NewClientSide returns a Reader of a server's frames, as a client reads
// them (unmasked), taking messages of up to limit bytes.
func NewClientSide(limit int) Reader {
	return Reader{state: ws.StateClientSide, limit: int64(limit)}
}

// Handler takes what a Reader finds. The payloads are valid only during
// the call.
type Handler interface {
	Message(op ws.OpCode, payload []byte) // a whole text or binary message
	Ping(payload []byte)
	Pong(payload []byte)
	// Closed is the peer's close frame: code 0 when it carried none.
	Closed(code ws.StatusCode, reason string)
}

// Admitter is a Handler that rations frames. Feed asks it about every
// whole frame before handling it — control frames, close frames and the
// fragments of a message included, whatever their length, an empty
// continuation too — so that no kind of frame escapes a rate limit. A
// refusal ends the Feed with that error (the connection is to be closed
// with its code), and the frame is not handled.
type Admitter interface {
	Admit(op ws.OpCode) *ProtocolError
}

// ProtocolError is a frame the connection must be closed for, with the
// close code and reason to send.
type ProtocolError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *ProtocolError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Reason) }

// ErrStop is returned by Feed after the peer's close frame: nothing after
// it is read.
var ErrStop = &ProtocolError{Reason: "close frame received"}

// Feed parses p, after whatever an earlier Feed left incomplete, calling h
// for every whole frame. It returns a ProtocolError when the peer broke
// the protocol (or ErrStop after its close frame); the connection is to be
// closed and Feed not called again. p may be changed (unmasked in place).
func (r *Reader) Feed(p []byte, h Handler) *ProtocolError {
	adm, _ := h.(Admitter)
	if r.partial != nil {
		r.partial = append(r.partial, p...)
		p = r.partial
	}
	for len(p) > 0 {
		n, err := r.next(p, h, adm)
		if err != nil {
			r.partial = nil
			return err
		}
		if n == 0 {
			break
		}
		p = p[n:]
	}
	switch {
	case len(p) == 0:
		r.partial = nil
	case r.partial == nil || &p[0] != &r.partial[0]:
		r.partial = append(make([]byte, 0, len(p)), p...) // p is the caller's buffer
	}
	return nil
}

// next handles the frame at the start of p and returns its length, or 0
// when p does not hold all of it yet. adm, when not nil, is asked first.
func (r *Reader) next(p []byte, h Handler, adm Admitter) (int, *ProtocolError) {
	if len(p) < 2 {
		return 0, nil
	}
	hdr := ws.Header{
		Fin:    p[0]&0x80 != 0,
		Rsv:    p[0] >> 4 & 0x7,
		OpCode: ws.OpCode(p[0] & 0x0f),
		Masked: p[1]&0x80 != 0,
	}
	n := 2
	switch l := p[1] & 0x7f; l {
	case 126:
		if len(p) < 4 {
			return 0, nil
		}
		hdr.Length, n = int64(binary.BigEndian.Uint16(p[2:])), 4
	case 127:
		if len(p) < 10 {
			return 0, nil
		}
		u := binary.BigEndian.Uint64(p[2:])
		if u>>63 != 0 {
			return 0, &ProtocolError{ws.StatusProtocolError, ws.ErrHeaderLengthMSB.Error()}
		}
		hdr.Length, n = int64(u), 10
	default:
		hdr.Length = int64(l)
	}
	if err := ws.CheckHeader(hdr, r.state); err != nil {
		return 0, &ProtocolError{ws.StatusProtocolError, err.Error()}
	}
	if !hdr.OpCode.IsControl() && hdr.Length+int64(len(r.msg)) > r.limit {
		return 0, &ProtocolError{ws.StatusMessageTooBig, fmt.Sprintf("message too big: the limit is %d bytes", r.limit)}
	}
	if hdr.Masked {
		if len(p) < n+4 {
			return 0, nil
		}
		copy(hdr.Mask[:], p[n:])
		n += 4
	}
	end := n + int(hdr.Length)
	if len(p) < end {
		return 0, nil
	}
	if adm != nil {
		if err := adm.Admit(hdr.OpCode); err != nil {
			return 0, err
		}
	}
	payload := p[n:end]
	if hdr.Masked {
		ws.Cipher(payload, hdr.Mask, 0)
	}
	switch hdr.OpCode {
	case ws.OpPing:
		h.Ping(payload)
	case ws.OpPong:
		h.Pong(payload)
	case ws.OpClose:
		if len(payload) == 1 {
			return 0, &ProtocolError{ws.StatusProtocolError, "a close frame's payload cannot be 1 byte"}
		}
		code, reason := ws.ParseCloseFrameData(payload)
		if len(payload) >= 2 {
			if err := ws.CheckCloseFrameData(code, reason); err != nil {
				return 0, &ProtocolError{ws.StatusProtocolError, err.Error()}
			}
		}
		h.Closed(code, reason)
		return 0, ErrStop
	case ws.OpText, ws.OpBinary:
		if !hdr.Fin {
			r.msg, r.msgOp = append(make([]byte, 0, len(payload)), payload...), hdr.OpCode
			r.state = r.state.Set(ws.StateFragmented)
			break
		}
		if err := deliver(h, hdr.OpCode, payload); err != nil {
			return 0, err
		}
	case ws.OpContinuation:
		r.msg = append(r.msg, payload...)
		if !hdr.Fin {
			break
		}
		msg, op := r.msg, r.msgOp
		r.msg, r.state = nil, r.state.Clear(ws.StateFragmented)
		if err := deliver(h, op, msg); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// deliver hands h a whole message; a text message must be UTF-8.
func deliver(h Handler, op ws.OpCode, msg []byte) *ProtocolError {
	if op == ws.OpText && !utf8.Valid(msg) {
		return &ProtocolError{ws.StatusInvalidFramePayloadData, "a text message is not valid UTF-8"}
	}
	h.Message(op, msg)
	return nil
}

// CloseBody returns the payload of a close frame with code and reason,
// the reason cut at a rune boundary so that the payload fits a control
// frame (125 bytes); empty when code is 0 (a close without a code).
func CloseBody(code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return nil
	}
	for len(reason) > ws.MaxControlFramePayloadSize-2 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	return ws.NewCloseFrameBody(code, reason)
}
