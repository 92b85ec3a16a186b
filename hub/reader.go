package hub

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// frameReader parses the frames a client sends from whatever pieces its
// socket yields: bytes arrive in the poller's shared buffer, every whole
// frame in them is handled at once, and only the start of a frame still
// incomplete is kept (partial). An idle connection keeps nothing. The
// rules of RFC 6455 — masking, reserved bits and opcodes, control frame
// limits, fragmentation, close codes — are checked with gobwas/ws;
// payloads are unmasked in place.
type frameReader struct {
	partial []byte    // the start of an incomplete frame; nil when none
	msg     []byte    // a fragmented message's payload so far
	msgOp   ws.OpCode // its opcode (text or binary)
	state   ws.State  // server side; fragmented inside a fragmented message
}

// frameHandler takes what a frameReader finds. The payloads are valid
// only during the call.
type frameHandler interface {
	message(op ws.OpCode, payload []byte) // a whole text or binary message
	ping(payload []byte)
	pong(payload []byte)
	// closed is the client's close frame: code 0 when it carried none.
	closed(code ws.StatusCode)
}

// protocolError is a client frame the connection must be closed for, with
// the close code and reason to send.
type protocolError struct {
	code   ws.StatusCode
	reason string
}

func (e *protocolError) Error() string { return fmt.Sprintf("%d %s", e.code, e.reason) }

// errStop is returned by feed after the client's close frame: nothing
// after it is read.
var errStop = &protocolError{}

// maxHeader is the longest frame header: 2 bytes, 8 of length, 4 of mask.
const maxHeader = 14

// feed parses p, after whatever an earlier feed left incomplete, calling h
// for every whole frame. It returns a protocolError when the client broke
// the protocol (or errStop after its close frame); the connection is to be
// closed and feed not called again. p may be changed (unmasked in place).
func (r *frameReader) feed(p []byte, h frameHandler) *protocolError {
	if r.partial != nil {
		r.partial = append(r.partial, p...)
		p = r.partial
	}
	for len(p) > 0 {
		n, err := r.next(p, h)
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
// when p does not hold all of it yet.
func (r *frameReader) next(p []byte, h frameHandler) (int, *protocolError) {
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
			return 0, &protocolError{ws.StatusProtocolError, ws.ErrHeaderLengthMSB.Error()}
		}
		hdr.Length, n = int64(u), 10
	default:
		hdr.Length = int64(l)
	}
	if err := ws.CheckHeader(hdr, r.state); err != nil {
		return 0, &protocolError{ws.StatusProtocolError, err.Error()}
	}
	if !hdr.OpCode.IsControl() && hdr.Length+int64(len(r.msg)) > MaxInbound {
		return 0, &protocolError{ws.StatusMessageTooBig, fmt.Sprintf("message too big: the limit is %d bytes", MaxInbound)}
	}
	if len(p) < n+4 {
		return 0, nil
	}
	copy(hdr.Mask[:], p[n:])
	n += 4
	end := n + int(hdr.Length)
	if len(p) < end {
		return 0, nil
	}
	payload := p[n:end]
	ws.Cipher(payload, hdr.Mask, 0)
	switch hdr.OpCode {
	case ws.OpPing:
		h.ping(payload)
	case ws.OpPong:
		h.pong(payload)
	case ws.OpClose:
		if len(payload) == 1 {
			return 0, &protocolError{ws.StatusProtocolError, "a close frame's payload cannot be 1 byte"}
		}
		code, reason := ws.ParseCloseFrameDataUnsafe(payload)
		if len(payload) >= 2 {
			if err := ws.CheckCloseFrameData(code, reason); err != nil {
				return 0, &protocolError{ws.StatusProtocolError, err.Error()}
			}
		}
		h.closed(code)
		return 0, errStop
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
func deliver(h frameHandler, op ws.OpCode, msg []byte) *protocolError {
	if op == ws.OpText && !utf8.Valid(msg) {
		return &protocolError{ws.StatusInvalidFramePayloadData, "a text message is not valid UTF-8"}
	}
	h.message(op, msg)
	return nil
}
