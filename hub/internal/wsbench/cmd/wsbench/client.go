package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The client is a minimal RFC 6455 client written here, the same for every
// server: it costs the same whichever library it talks to, and it counts
// frames without copying payloads.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// conn is one client connection; its counter is its own cache line.
type conn struct {
	received atomic.Int64
	_        [56]byte
}

// fleet is the client process's set of connections.
type fleet struct {
	addr    string
	path    string
	srcs    []net.IP
	bufSize int

	mu    sync.Mutex
	conns []*conn
	nets  []net.Conn
	ended sync.WaitGroup // one per connection, done at its end marker
}

// parseSrcs turns "127.0.0.2-127.0.0.10" or "127.0.0.2,127.0.0.3" into
// loopback addresses.
func parseSrcs(spec string) ([]net.IP, error) {
	if spec == "" {
		return nil, nil
	}
	var out []net.IP
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a := net.ParseIP(strings.TrimSpace(lo)).To4()
		if a == nil || !a.IsLoopback() {
			return nil, fmt.Errorf("source %q: not an IPv4 loopback address", lo)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b := net.ParseIP(strings.TrimSpace(hi)).To4()
		if b == nil || !b.IsLoopback() || b[0] != a[0] || b[1] != a[1] || b[2] != a[2] || b[3] < a[3] {
			return nil, fmt.Errorf("source range %q: want a.b.c.x-a.b.c.y on loopback", part)
		}
		for i := int(a[3]); i <= int(b[3]); i++ {
			out = append(out, net.IPv4(a[0], a[1], a[2], byte(i)).To4())
		}
	}
	return out, nil
}

// dial opens and upgrades one connection from src (nil: any).
func (f *fleet) dial(src net.IP) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	c, err := d.Dial("tcp", f.addr)
	if err != nil {
		return nil, nil, err
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + f.path + " HTTP/1.1\r\nHost: " + f.addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, f.bufSize)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	h := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		c.Close()
		return nil, nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	return c, br, nil
}

// writeFrame sends one masked client frame (control frames only here).
func writeFrame(w io.Writer, op byte, payload []byte) error {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	b := make([]byte, 0, 6+len(payload))
	b = append(b, 0x80|op, 0x80|byte(len(payload)))
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i&3])
	}
	_, err := w.Write(b)
	return err
}

// readLoop counts complete text messages until the connection ends. A
// binary message is the broadcaster's end marker: it calls ended once.
func readLoop(c net.Conn, br *bufio.Reader, cn *conn, ended func()) error {
	var hdr [8]byte
	var msgOp byte
	endedOnce := false
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return err
		}
		fin, op, masked := hdr[0]&0x80 != 0, hdr[0]&0x0f, hdr[1]&0x80 != 0
		n := int64(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[:2]); err != nil {
				return err
			}
			n = int64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				return err
			}
			n = int64(binary.BigEndian.Uint64(hdr[:8]))
		}
		if masked { // servers do not mask; tolerate it
			if _, err := br.Discard(4); err != nil {
				return err
			}
		}
		switch op {
		case 0x0, 0x1, 0x2:
			if op != 0x0 {
				msgOp = op
			}
			if _, err := br.Discard(int(n)); err != nil {
				return err
			}
			if fin && msgOp == 0x1 {
				cn.received.Add(1)
			}
			if fin && msgOp == 0x2 && !endedOnce {
				endedOnce = true
				ended()
			}
		case 0x8, 0x9, 0xA:
			p := make([]byte, n)
			if _, err := io.ReadFull(br, p); err != nil {
				return err
			}
			switch op {
			case 0x8:
				_ = writeFrame(c, 0x8, p)
				return io.EOF
			case 0x9:
				if err := writeFrame(c, 0xA, p); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unexpected opcode %#x", op)
		}
	}
}

// open dials n connections with conc workers, sources round-robin; each
// gets a reader goroutine. It returns how many are up.
func (f *fleet) open(n, conc int) (int, error) {
	var next, ok atomic.Int64
	var firstErr error
	var errMu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				var src net.IP
				if len(f.srcs) > 0 {
					src = f.srcs[int(i)%len(f.srcs)]
				}
				var c net.Conn
				var br *bufio.Reader
				var err error
				for try := 0; try < 3; try++ {
					if c, br, err = f.dial(src); err == nil {
						break
					}
				}
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				cn := &conn{}
				f.mu.Lock()
				f.conns = append(f.conns, cn)
				f.nets = append(f.nets, c)
				f.ended.Add(1)
				f.mu.Unlock()
				ok.Add(1)
				var once sync.Once
				done := func() { once.Do(f.ended.Done) }
				go func() {
					defer done()
					_ = readLoop(c, br, cn, done)
					c.Close()
				}()
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), firstErr
}

func (f *fleet) received() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t int64
	for _, c := range f.conns {
		t += c.received.Load()
	}
	return t
}

// waitEnded blocks until every connection has seen its end marker (or
// closed), or the timeout passes.
func (f *fleet) waitEnded(timeout time.Duration) bool {
	ch := make(chan struct{})
	go func() { f.ended.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (f *fleet) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.nets {
		c.Close()
	}
}

type countReport struct {
	Conns    int      `json:"conns"`
	Received int64    `json:"received"`
	Ended    bool     `json:"ended,omitempty"`
	CPU      cpuTimes `json:"cpu"`
}

func clientMain(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	addr := fs.String("addr", "", "server host:port (loopback)")
	path := fs.String("path", "/ws", "upgrade path")
	n := fs.Int("n", 10000, "connections to open")
	srcSpec := fs.String("srcs", "127.0.0.2-127.0.0.10", "source addresses, round-robin (a-b range or comma list; empty: any)")
	conc := fs.Int("conc", 32, "concurrent dials")
	bufSize := fs.Int("bufsize", 4096, "read buffer per connection")
	maxLife := fs.Duration("maxlife", 10*time.Minute, "exit by itself after this long")
	_ = fs.Parse(args)

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("addr must be a loopback address")
	}
	srcs, err := parseSrcs(*srcSpec)
	if err != nil {
		return err
	}
	time.AfterFunc(*maxLife, func() {
		fmt.Fprintln(os.Stderr, "client: maxlife reached, exiting")
		os.Exit(3)
	})
	f := &fleet{addr: *addr, path: *path, srcs: srcs, bufSize: *bufSize}

	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	m := http.NewServeMux()
	m.HandleFunc("/count", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		nc := len(f.conns)
		f.mu.Unlock()
		writeJSON(w, countReport{Conns: nc, Received: f.received(), CPU: selfCPU()})
	})
	m.HandleFunc("/ended", func(w http.ResponseWriter, r *http.Request) {
		timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
		if err != nil {
			timeout = time.Minute
		}
		ok := f.waitEnded(timeout)
		writeJSON(w, countReport{Received: f.received(), Ended: ok, CPU: selfCPU()})
	})
	go func() { _ = http.Serve(ctl, m) }()
	fmt.Printf("CONTROL %s\n", ctl.Addr())

	t0 := time.Now()
	up, err := f.open(*n, *conc)
	msg := ""
	if err != nil {
		msg = " err=" + strconv.Quote(err.Error())
	}
	fmt.Printf("READY connected=%d failed=%d secs=%.2f%s\n", up, *n-up, time.Since(t0).Seconds(), msg)
	// Runs until the orchestrator ends it (SIGTERM, SIGINT) or maxlife.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	f.closeAll()
	return nil
}
