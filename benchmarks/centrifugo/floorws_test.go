package main

import (
	"io"
	"net"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// The WebSocket floor welcomes a client at the last sequence written,
// then writes each burst as msgs text frames of size bytes, in Lineage's
// shape: sequence after sequence, a timestamp the client reads.
func TestFloorWSBurst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := &floorWS{}
	go f.accept(ln)
	f.burst(3, 308) // before the client: its welcome says 3
	c, br, _, err := ws.Dial(t.Context(), "ws://"+ln.Addr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rd io.ReadWriter = c
	if br != nil { // the welcome came with the handshake's answer
		rd = struct {
			io.Reader
			io.Writer
		}{io.MultiReader(br, c), c}
	}
	fl := &fleet{proto: "lineage", cut: map[string]int{}}
	fl.window.Store(true)
	cn := &conn{f: fl}
	msg, err := wsutil.ReadServerText(rd)
	if err != nil {
		t.Fatal(err)
	}
	cn.lineage(msg)
	if !cn.seen || cn.last != 3 {
		t.Fatalf("welcome %s: the client stands at %d, want 3", msg, cn.last)
	}
	f.burst(4, 308)
	for want := uint64(4); want <= 7; want++ {
		msg, err := wsutil.ReadServerText(rd)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) != 308 {
			t.Errorf("message %d is %d bytes, want 308", want, len(msg))
		}
		cn.lineage(msg)
		if cn.last != want {
			t.Fatalf("message %s: the client stands at %d, want %d", msg, cn.last, want)
		}
	}
	if fl.gaps.Load() != 0 || fl.messages.Load() != 4 || fl.noTS.Load() != 0 {
		t.Errorf("gaps %d, messages %d, without a timestamp %d: want 0, 4, 0", fl.gaps.Load(), fl.messages.Load(), fl.noTS.Load())
	}
}
