package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// Libraries (server configurations) and writer modes.
const (
	libGWS          = "gws"           // lxzan/gws, ServerOption defaults
	libGWSTuned     = "gws-tuned"     // lxzan/gws, ReadBufferSize 1 KiB
	libGorilla      = "gorilla"       // gorilla/websocket, Upgrader{} defaults
	libGorillaTuned = "gorilla-tuned" // gorilla, small buffers + WriteBufferPool
	libCoder        = "coder"         // coder/websocket, Accept defaults

	writerNone  = "none"  // reader goroutine only (idle measurement)
	writerChan  = "chan"  // + one writer goroutine and a bounded channel per conn
	writerAsync = "async" // gws only: WriteAsync, bounded by a per-conn semaphore
)

// Tuned buffer sizes: a ~200-byte event fits either buffer. Neither limits
// the size of a message.
const (
	gorillaTunedRead  = 1024
	gorillaTunedWrite = 1024
	gwsTunedRead      = 1024
)

var gorillaWritePool = &sync.Pool{}

// Frame kinds the broadcaster sends: text events, and one binary end marker
// per connection that tells the client every event before it has arrived.
const (
	opText = iota
	opBinary
)

// peer is one server-side connection as the broadcaster sees it.
type peer struct {
	send func(op int, b []byte) bool // blocks while the conn's window is full; false once gone
	done chan struct{}               // closed when the connection is gone
	once sync.Once
	kill func() // closes the transport; the reader then unregisters the peer
}

func (p *peer) gone() { p.once.Do(func() { close(p.done) }) }

// newPeer wires the writer mode around a library's blocking write (and, for
// gws, its WriteAsync).
func newPeer(mode string, window int, write func(op int, b []byte) error,
	async func(op int, b []byte, cb func(error)), kill func()) *peer {
	p := &peer{done: make(chan struct{}), kill: kill}
	switch mode {
	case writerChan:
		type out struct {
			op int
			b  []byte
		}
		ch := make(chan out, window)
		go func() {
			for {
				select {
				case m := <-ch:
					if err := write(m.op, m.b); err != nil {
						p.kill()
						p.gone()
						return
					}
				case <-p.done:
					return
				}
			}
		}()
		p.send = func(op int, b []byte) bool {
			select {
			case ch <- out{op, b}:
				return true
			case <-p.done:
				return false
			}
		}
	case writerAsync:
		sem := make(chan struct{}, window)
		p.send = func(op int, b []byte) bool {
			select {
			case sem <- struct{}{}:
			case <-p.done:
				return false
			}
			async(op, b, func(error) { <-sem })
			return true
		}
	default: // writerNone: the caller's goroutine writes
		p.send = func(op int, b []byte) bool { return write(op, b) == nil }
	}
	return p
}

// server holds the registered peers of one library's server.
type server struct {
	lib, writer string
	window      int

	mu    sync.Mutex
	cond  *sync.Cond
	peers map[*peer]struct{}

	ws http.Handler // the library's upgrade handler
}

func newServer(lib, writer string, window int) (*server, error) {
	s := &server{lib: lib, writer: writer, window: window, peers: map[*peer]struct{}{}}
	s.cond = sync.NewCond(&s.mu)
	if writer == writerAsync && lib != libGWS && lib != libGWSTuned {
		return nil, fmt.Errorf("writer %q is for gws only", writer)
	}
	switch writer {
	case writerNone, writerChan, writerAsync:
	default:
		return nil, fmt.Errorf("unknown writer %q", writer)
	}
	switch lib {
	case libGWS:
		s.ws = s.gwsHandler(&gws.ServerOption{})
	case libGWSTuned:
		s.ws = s.gwsHandler(&gws.ServerOption{ReadBufferSize: gwsTunedRead})
	case libGorilla:
		s.ws = s.gorillaHandler(&websocket.Upgrader{})
	case libGorillaTuned:
		s.ws = s.gorillaHandler(&websocket.Upgrader{
			ReadBufferSize:  gorillaTunedRead,
			WriteBufferSize: gorillaTunedWrite,
			WriteBufferPool: gorillaWritePool,
		})
	case libCoder:
		s.ws = http.HandlerFunc(s.coderServe)
	default:
		return nil, fmt.Errorf("unknown lib %q", lib)
	}
	return s, nil
}

func (s *server) add(p *peer) {
	s.mu.Lock()
	s.peers[p] = struct{}{}
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *server) remove(p *peer) {
	p.gone()
	s.mu.Lock()
	delete(s.peers, p)
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *server) snapshot() []*peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := make([]*peer, 0, len(s.peers))
	for p := range s.peers {
		ps = append(ps, p)
	}
	return ps
}

// waitConns blocks until at least n peers are registered or the timeout
// passes, and returns the count.
func (s *server) waitConns(n int, timeout time.Duration) int {
	expired := false
	t := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		expired = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.peers) < n && !expired {
		s.cond.Wait()
	}
	return len(s.peers)
}

// ---- lxzan/gws: Upgrade, then `go socket.ReadLoop()` (its README's style).

type gwsEvents struct {
	gws.BuiltinEventHandler
	s *server
}

func (h gwsEvents) OnClose(c *gws.Conn, _ error) {
	if v, ok := c.Session().Load("p"); ok {
		h.s.remove(v.(*peer))
	}
}

func (h gwsEvents) OnMessage(_ *gws.Conn, m *gws.Message) { _ = m.Close() }

func gwsOp(op int) gws.Opcode {
	if op == opBinary {
		return gws.OpcodeBinary
	}
	return gws.OpcodeText
}

func (s *server) gwsHandler(opt *gws.ServerOption) http.Handler {
	up := gws.NewUpgrader(gwsEvents{s: s}, opt)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		p := newPeer(s.writer, s.window,
			func(op int, b []byte) error { return c.WriteMessage(gwsOp(op), b) },
			func(op int, b []byte, cb func(error)) { c.WriteAsync(gwsOp(op), b, cb) },
			func() { _ = c.NetConn().Close() })
		c.Session().Store("p", p)
		s.add(p)
		go c.ReadLoop()
	})
}

// ---- gorilla/websocket: Upgrade, then a goroutine in a ReadMessage loop
// (its chat example's readPump), the handler returns.

func gorillaOp(op int) int {
	if op == opBinary {
		return websocket.BinaryMessage
	}
	return websocket.TextMessage
}

func (s *server) gorillaHandler(up *websocket.Upgrader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		p := newPeer(s.writer, s.window,
			func(op int, b []byte) error { return c.WriteMessage(gorillaOp(op), b) },
			nil,
			func() { _ = c.NetConn().Close() })
		s.add(p)
		go func() {
			defer s.remove(p)
			defer c.Close()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	})
}

// ---- coder/websocket: Accept, then a Read loop in the handler (its README's
// style).

func coderOp(op int) coder.MessageType {
	if op == opBinary {
		return coder.MessageBinary
	}
	return coder.MessageText
}

func (s *server) coderServe(w http.ResponseWriter, r *http.Request) {
	c, err := coder.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	p := newPeer(s.writer, s.window,
		func(op int, b []byte) error { return c.Write(ctx, coderOp(op), b) },
		nil,
		func() { _ = c.CloseNow() })
	s.add(p)
	defer s.remove(p)
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
	}
}

// ---- control endpoints

type memReport struct {
	RSS        int64  `json:"rss"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	GoSys      uint64 `json:"go_sys"`
	Goroutines int    `json:"goroutines"`
	Conns      int    `json:"conns"`
}

type broadcastReport struct {
	Peers  int           `json:"peers"`
	Rounds int           `json:"rounds"`
	Sent   int64         `json:"sent"` // text frames handed to the library
	Wall   time.Duration `json:"wall_ns"`
	CPU    cpuTimes      `json:"cpu"`
}

// event returns the broadcast payload: a JSON object of exactly size bytes
// (at least ~150), shaped like a hub event.
func event(size int) []byte {
	head := `{"v":1,"type":"event","seq":1048576,"arena":"lineage-main","kind":"birth","agent":"a-004217","parent":"a-001733","generation":42,"fitness":0.873125,"ts":"2025-06-01T12:00:00.000Z","pad":"`
	tail := `"}`
	n := size - len(head) - len(tail)
	if n < 0 {
		n = 0
	}
	return []byte(head + strings.Repeat("x", n) + tail)
}

var endMarker = []byte("end")

func (s *server) mux() *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("/ws", s.ws)
	m.HandleFunc("/mem", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, err := selfRSS()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		n := len(s.peers)
		s.mu.Unlock()
		writeJSON(w, memReport{RSS: rss, HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse,
			GoSys: ms.Sys, Goroutines: runtime.NumGoroutine(), Conns: n})
	})
	m.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
		if err != nil {
			timeout = time.Minute
		}
		writeJSON(w, map[string]int{"conns": s.waitConns(n, timeout)})
	})
	m.HandleFunc("/broadcast", func(w http.ResponseWriter, r *http.Request) {
		if s.writer == writerNone {
			http.Error(w, "server runs without writers", http.StatusBadRequest)
			return
		}
		dur, err := time.ParseDuration(r.URL.Query().Get("dur"))
		if err != nil || dur <= 0 || dur > 5*time.Minute {
			http.Error(w, "dur must be a duration up to 5m", http.StatusBadRequest)
			return
		}
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if size <= 0 || size > 64<<10 {
			size = 200
		}
		msg := event(size)
		peers := s.snapshot()
		rep := broadcastReport{Peers: len(peers)}
		cpu0, t0 := selfCPU(), time.Now()
		deadline := t0.Add(dur)
		for time.Now().Before(deadline) {
			for _, p := range peers {
				if p.send(opText, msg) {
					rep.Sent++
				}
			}
			rep.Rounds++
		}
		rep.Wall = time.Since(t0)
		cpu1 := selfCPU()
		rep.CPU = cpuTimes{User: cpu1.User - cpu0.User, Sys: cpu1.Sys - cpu0.Sys}
		for _, p := range peers {
			p.send(opBinary, endMarker)
		}
		writeJSON(w, rep)
	})
	return m
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func serverMain(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	lib := fs.String("lib", libGWS, "gws | gws-tuned | gorilla | gorilla-tuned | coder")
	writer := fs.String("writer", writerNone, "none | chan | async (gws)")
	window := fs.Int("window", 64, "messages in flight per connection before the broadcaster waits")
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	maxLife := fs.Duration("maxlife", 10*time.Minute, "exit by itself after this long")
	profile := fs.Bool("pprof", false, "serve /debug/pprof/ too (for explaining the numbers)")
	_ = fs.Parse(args)

	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("listen must be a loopback address")
	}
	s, err := newServer(*lib, *writer, *window)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	time.AfterFunc(*maxLife, func() {
		fmt.Fprintln(os.Stderr, "server: maxlife reached, exiting")
		os.Exit(3)
	})
	fmt.Printf("LISTEN %s\n", ln.Addr())
	mux := s.mux()
	if *profile {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
