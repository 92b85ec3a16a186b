package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// floorWSMain is the WebSocket floor (`vscentrifugo floorws`): a server
// with no hub, no engine and no log. It upgrades each connection, sends
// a welcome, and once every -every writes one burst of -msgs text frames
// of -bytes each — Lineage's messages in shape: {"sequence":N,
// "timestamp":"…","pad":"…"}, stamped when the burst is made — to every
// connection, one write(2) each, from one goroutine. The same client
// process reads it as it reads Lineage, parsing every message: what is
// left between its figures and Lineage's is the hub's and the engine's.
func floorWSMain(args []string) error {
	fs := flag.NewFlagSet("floorws", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	msgs := fs.Int("msgs", 35, "messages a burst")
	size := fs.Int("bytes", 308, "bytes a message")
	every := fs.Duration("every", time.Second, "time between bursts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	f := &floorWS{}
	go f.accept(ln)
	t := time.NewTicker(*every)
	defer t.Stop()
	for range t.C {
		f.burst(*msgs, *size)
	}
	return nil
}

type floorWS struct {
	mu    sync.Mutex // held while a burst is written: a welcome is never mid-burst
	conns []net.Conn
	seq   uint64 // the last sequence written
}

func (f *floorWS) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			if _, err := ws.Upgrade(c); err != nil {
				c.Close()
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			var b bytes.Buffer
			_ = ws.WriteFrame(&b, ws.NewTextFrame([]byte(`{"type":"welcome","sequence":`+strconv.FormatUint(f.seq, 10)+`}`)))
			if _, err := c.Write(b.Bytes()); err != nil {
				c.Close()
				return
			}
			f.conns = append(f.conns, c)
		}()
	}
}

// burst writes msgs messages of size bytes to every connection; a
// connection whose write fails is dropped.
func (f *floorWS) burst(msgs, size int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	var b bytes.Buffer
	var out []byte
	for range msgs {
		f.seq++
		b.Reset()
		head := `{"sequence":` + strconv.FormatUint(f.seq, 10) + `,"timestamp":"` + ts + `","pad":"`
		pad := max(0, size-len(head)-2)
		_ = ws.WriteFrame(&b, ws.NewTextFrame([]byte(head+strings.Repeat("x", pad)+`"}`)))
		out = append(out, b.Bytes()...)
	}
	kept := f.conns[:0]
	for _, c := range f.conns {
		if _, err := c.Write(out); err != nil {
			c.Close()
			continue
		}
		kept = append(kept, c)
	}
	f.conns = kept
}

// floorWSString names the floor's workload in the report.
func floorWSString(msgs, size int) string {
	return fmt.Sprintf("no hub: %d frames of %d bytes a burst, one write(2) a socket, one goroutine", msgs, size)
}
