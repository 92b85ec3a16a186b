package wsframe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// MaxInbound is the limit the tests read with (the hub's).
const MaxInbound = 4 << 10

// recorder is a Handler that writes down what it is given.
type recorder struct{ got []string }

func (r *recorder) Message(op ws.OpCode, p []byte) {
	r.got = append(r.got, fmt.Sprintf("msg %d %s", op, p))
}
func (r *recorder) Ping(p []byte) { r.got = append(r.got, "ping "+string(p)) }
func (r *recorder) Pong(p []byte) { r.got = append(r.got, "pong "+string(p)) }
func (r *recorder) Closed(code ws.StatusCode, reason string) {
	r.got = append(r.got, fmt.Sprintf("close %d %s", code, reason))
}

// clientFrame is a frame as a client sends it: masked.
func clientFrame(t testing.TB, op ws.OpCode, fin bool, payload []byte) []byte {
	t.Helper()
	b, err := ws.CompileFrame(ws.MaskFrame(ws.NewFrame(op, fin, append([]byte(nil), payload...))))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newReader() *Reader {
	r := NewServerSide(MaxInbound)
	return &r
}

// feedChunks feeds stream in pieces of the sizes next gives and returns
// what was handled and the error that stopped it.
func feedChunks(stream []byte, next func() int) ([]string, *ProtocolError) {
	r, rec := newReader(), &recorder{}
	stream = append([]byte(nil), stream...)
	for len(stream) > 0 {
		n := min(next(), len(stream))
		if err := r.Feed(append([]byte(nil), stream[:n]...), rec); err != nil {
			return rec.got, err
		}
		stream = stream[n:]
	}
	if r.partial != nil || r.msg != nil {
		return rec.got, &ProtocolError{Reason: fmt.Sprintf("left %d partial bytes, %d message bytes", len(r.partial), len(r.msg))}
	}
	return rec.got, nil
}

// However the bytes are cut, the same frames come out, and nothing is kept
// once every frame is whole.
func TestFrameReaderAnyCut(t *testing.T) {
	big := bytes.Repeat([]byte("é"), 1500) // 3,000 bytes: a 16-bit length
	var stream []byte
	stream = append(stream, clientFrame(t, ws.OpText, true, []byte(`{"type":"ping"}`))...)
	stream = append(stream, clientFrame(t, ws.OpPong, true, []byte{0, 0, 0, 7})...)
	stream = append(stream, clientFrame(t, ws.OpText, false, []byte("frag"))...)
	stream = append(stream, clientFrame(t, ws.OpPing, true, []byte("in between"))...)
	stream = append(stream, clientFrame(t, ws.OpContinuation, false, []byte("men"))...)
	stream = append(stream, clientFrame(t, ws.OpContinuation, true, []byte("ted"))...)
	stream = append(stream, clientFrame(t, ws.OpBinary, true, big)...)
	stream = append(stream, clientFrame(t, ws.OpText, true, nil)...)
	want := []string{
		`msg 1 {"type":"ping"}`, "pong \x00\x00\x00\x07", "ping in between", "msg 1 fragmented",
		"msg 2 " + string(big), "msg 1 ",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, next := range map[string]func() int{
		"whole":        func() int { return len(stream) },
		"byte by byte": func() int { return 1 },
		"random":       func() int { return 1 + rng.IntN(40) },
		"large random": func() int { return 1 + rng.IntN(4000) },
	} {
		got, err := feedChunks(stream, next)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

func TestFrameReaderRefusals(t *testing.T) {
	text := func(p string) []byte { return clientFrame(t, ws.OpText, true, []byte(p)) }
	unmasked, _ := ws.CompileFrame(ws.NewTextFrame([]byte("hi")))
	rsv := text("hi")
	rsv[0] |= 0x40
	reserved := text("hi")
	reserved[0] = reserved[0]&0xf0 | 0x3
	msb := []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	for _, tt := range []struct {
		name   string
		stream []byte
		code   ws.StatusCode
	}{
		{"unmasked", unmasked, 1002},
		{"reserved bits", rsv, 1002},
		{"reserved opcode", reserved, 1002},
		{"length with its top bit set", msb, 1002},
		{"long control frame", clientFrame(t, ws.OpPing, true, bytes.Repeat([]byte("x"), 126)), 1002},
		{"fragmented control frame", clientFrame(t, ws.OpPing, false, []byte("x")), 1002},
		{"continuation without a start", clientFrame(t, ws.OpContinuation, true, []byte("x")), 1002},
		{"new message inside a fragmented one", cat(clientFrame(t, ws.OpText, false, []byte("a")), text("b")), 1002},
		{"too big", text(strings.Repeat("x", MaxInbound+1)), 1009},
		{"too big in fragments", cat(clientFrame(t, ws.OpText, false, bytes.Repeat([]byte("x"), MaxInbound)),
			clientFrame(t, ws.OpContinuation, true, []byte("x"))), 1009},
		{"invalid UTF-8", text("\xff\xfe"), 1007},
		{"UTF-8 broken across fragments and never completed", cat(clientFrame(t, ws.OpText, false, []byte("\xc3")),
			clientFrame(t, ws.OpContinuation, true, []byte("x"))), 1007},
		{"close with one byte", clientFrame(t, ws.OpClose, true, []byte{3}), 1002},
		{"close with a reserved code", clientFrame(t, ws.OpClose, true, ws.NewCloseFrameBody(1005, "")), 1002},
		{"close with an invalid reason", clientFrame(t, ws.OpClose, true, ws.NewCloseFrameBody(1000, "\xff")), 1002},
	} {
		got, err := feedChunks(tt.stream, func() int { return 1 })
		if err == nil || err.Code != tt.code {
			t.Errorf("%s: got %v (handled %q), want %d", tt.name, err, got, tt.code)
		}
	}
}

// A frame declared too big is refused from its header: its payload is
// never awaited.
func TestFrameReaderRefusesBeforeThePayload(t *testing.T) {
	f := clientFrame(t, ws.OpText, true, bytes.Repeat([]byte("x"), 1<<20))
	err := newReader().Feed(f[:14], &recorder{})
	if err == nil || err.Code != ws.StatusMessageTooBig {
		t.Fatalf("got %v, want 1009 from the header alone", err)
	}
}

// UTF-8 split across fragments is whole in the message: accepted.
func TestFrameReaderJoinsUTF8AcrossFragments(t *testing.T) {
	stream := append(clientFrame(t, ws.OpText, false, []byte("caf\xc3")), clientFrame(t, ws.OpContinuation, true, []byte("\xa9"))...)
	got, err := feedChunks(stream, func() int { return 3 })
	if err != nil || len(got) != 1 || got[0] != "msg 1 café" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// The client's close frame is handed over with its code, and the reader
// stops there.
func TestFrameReaderStopsAtClose(t *testing.T) {
	stream := append(clientFrame(t, ws.OpClose, true, ws.NewCloseFrameBody(4001, "bye")), clientFrame(t, ws.OpText, true, []byte("after"))...)
	r, rec := newReader(), &recorder{}
	if err := r.Feed(stream, rec); err != ErrStop {
		t.Fatalf("feed: %v, want ErrStop", err)
	}
	if len(rec.got) != 1 || rec.got[0] != "close 4001 bye" {
		t.Fatalf("handled %q", rec.got)
	}
	r, rec = newReader(), &recorder{}
	if err := r.Feed(clientFrame(t, ws.OpClose, true, nil), rec); err != ErrStop || rec.got[0] != "close 0 " {
		t.Fatalf("empty close: %v %q", err, rec.got)
	}
}

func BenchmarkFrameReaderPong(b *testing.B) {
	f := clientFrame(b, ws.OpPong, true, []byte{0, 0, 0, 1})
	r, rec := newReader(), &recorder{}
	buf := make([]byte, len(f))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, f)
		rec.got = rec.got[:0]
		if err := r.Feed(buf, rec); err != nil {
			b.Fatal(err)
		}
	}
}

// A client reads unmasked frames, and refuses masked ones.
func TestClientSide(t *testing.T) {
	r, rec := NewClientSide(1<<20), &recorder{}
	plain, _ := ws.CompileFrame(ws.NewTextFrame([]byte(`{"sequence":1}`)))
	ping, _ := ws.CompileFrame(ws.NewPingFrame([]byte{0, 0, 0, 9}))
	stream := append(plain, ping...)
	for i := range stream { // byte by byte
		if err := r.Feed(stream[i:i+1], rec); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.got) != 2 || rec.got[0] != `msg 1 {"sequence":1}` || rec.got[1] != "ping \x00\x00\x00\t" {
		t.Fatalf("handled %q", rec.got)
	}
	if err := r.Feed(clientFrame(t, ws.OpText, true, []byte("masked")), rec); err == nil || err.Code != ws.StatusProtocolError {
		t.Fatalf("a masked frame from the server: %v, want 1002", err)
	}
}

// A close payload fits a control frame, its reason cut between runes, and
// is read back as it was meant.
func TestCloseBody(t *testing.T) {
	if b := CloseBody(0, "ignored"); len(b) != 0 {
		t.Errorf("no code: %q, want an empty payload", b)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	b := CloseBody(ws.StatusPolicyViolation, long)
	if len(b) > ws.MaxControlFramePayloadSize {
		t.Fatalf("payload of %d bytes", len(b))
	}
	code, reason := ws.ParseCloseFrameData(b)
	if code != ws.StatusPolicyViolation || reason != strings.Repeat("é", 61) {
		t.Errorf("read back %d %q", code, reason)
	}
}

// admitter is a recorder that admits a fixed number of frames.
type admitter struct {
	recorder
	asked []ws.OpCode
	left  int
}

func (a *admitter) Admit(op ws.OpCode) *ProtocolError {
	a.asked = append(a.asked, op)
	if a.left == 0 {
		return &ProtocolError{ws.StatusPolicyViolation, "flood"}
	}
	a.left--
	return nil
}

// Every frame is asked about, whatever its kind or length — empty
// continuations and pongs, which deliver nothing, included — and a
// refusal stops the Feed before the frame is handled.
func TestAdmitterIsAskedAboutEveryFrame(t *testing.T) {
	var stream []byte
	stream = append(stream, clientFrame(t, ws.OpPong, true, nil)...)
	stream = append(stream, clientFrame(t, ws.OpText, false, []byte("a"))...)
	for range 3 {
		stream = append(stream, clientFrame(t, ws.OpContinuation, false, nil)...)
	}
	stream = append(stream, clientFrame(t, ws.OpPing, true, nil)...)
	stream = append(stream, clientFrame(t, ws.OpContinuation, true, []byte("b"))...)
	stream = append(stream, clientFrame(t, ws.OpPong, true, []byte("late"))...)

	a := &admitter{left: 7}
	r := newReader()
	err := r.Feed(stream, a)
	want := []ws.OpCode{ws.OpPong, ws.OpText, ws.OpContinuation, ws.OpContinuation, ws.OpContinuation, ws.OpPing, ws.OpContinuation, ws.OpPong}
	if fmt.Sprint(a.asked) != fmt.Sprint(want) {
		t.Errorf("asked about %v, want %v", a.asked, want)
	}
	if err == nil || err.Code != ws.StatusPolicyViolation {
		t.Fatalf("Feed returned %v, want the refusal", err)
	}
	if got := strings.Join(a.got, "|"); got != "pong |ping |msg 1 ab" {
		t.Errorf("handled %q; the refused frame must not be", got)
	}
}
