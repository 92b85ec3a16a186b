package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/lineage-arena/lineage/internal/wsframe"
)

// The client process opens -n WebSocket connections to one server and
// reads them, one goroutine each, 16 KiB a read, frames parsed with the
// hub's own internal/wsframe: the same code for both servers, only the
// message scan differs (scanLineage, scanCentrifugo). It answers pings
// (WebSocket ping frames for Lineage, the {} message for Centrifugo).
//
// It talks to the harness on stdin and stdout, one line each way:
//
//	READY connected=N failed=F      (stdout, once every dial is done)
//	START                           (stdin: the window opens; counters reset)
//	STOP                            (stdin: the window closes)
//	{...}                           (stdout: the window's clientReport as JSON; then it exits)

const (
	readBuffer = 16 << 10
	maxMessage = 1 << 20
	histStep   = 100 * time.Microsecond // latency histogram resolution
	histSize   = 100_000                // up to 10 s; longer lands in the last bucket
	traceLimit = 100_000                // events of connection 0 kept for the replay
)

// clientReport is what one client process measured in the window.
type clientReport struct {
	Connected   int            `json:"connected"`
	Failed      int            `json:"failed"`
	FailReason  string         `json:"fail_reason,omitempty"`
	Window      float64        `json:"window_s"`
	Messages    int64          `json:"messages"`   // events received in the window, all connections
	Bytes       int64          `json:"bytes"`      // their payload bytes
	Gaps        int64          `json:"gaps"`       // events missing between two received, all connections
	Dups        int64          `json:"duplicates"` // events received again or out of order
	Cut         int            `json:"cut"`        // connections that ended before STOP
	CutReasons  map[string]int `json:"cut_reasons,omitempty"`
	Pings       int64          `json:"pings"` // pings answered in the window
	P50         float64        `json:"p50_ms"`
	P99         float64        `json:"p99_ms"`
	Max         float64        `json:"max_ms"`
	NoTimestamp int64          `json:"no_timestamp"`    // events whose time could not be read
	Trace       []traceEvent   `json:"trace,omitempty"` // connection 0's events: what Centrifugo is sent
	CPU         float64        `json:"cpu_s"`           // this process's CPU over the window
}

// traceEvent is one event as connection 0 received it: when (from the
// window's start) and how many bytes.
type traceEvent struct {
	At   time.Duration `json:"at_ns"`
	Size int           `json:"size"`
}

type fleet struct {
	proto  string
	window atomic.Bool
	start  atomic.Int64 // the window's start, unix ns

	hist     [histSize]atomic.Int64
	messages atomic.Int64
	bytes    atomic.Int64
	gaps     atomic.Int64
	dups     atomic.Int64
	pings    atomic.Int64
	noTS     atomic.Int64
	maxNS    atomic.Int64

	mu      sync.Mutex
	cut     map[string]int
	trace   []traceEvent
	stopped bool
}

// conn is one connection's reading state; only its goroutine touches it.
type conn struct {
	f     *fleet
	nc    net.Conn
	first bool // connection 0: its events make the trace
	last  uint64
	seen  bool
	rd    wsframe.Reader
	now   time.Time
	out   []byte
	err   string
}

func clientMain(args []string) error {
	fs := flag.NewFlagSet("clients", flag.ContinueOnError)
	proto := fs.String("proto", "lineage", "lineage | centrifugo")
	addr := fs.String("addr", "", "server host:port (loopback)")
	path := fs.String("path", "/", "WebSocket path")
	n := fs.Int("n", 1000, "connections")
	srcSpec := fs.String("srcs", "127.0.0.2-127.0.0.11", "source addresses, round-robin")
	conc := fs.Int("conc", 64, "dials at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("addr %q: not a loopback host:port", *addr)
	}
	srcs, err := parseSrcs(*srcSpec)
	if err != nil {
		return err
	}
	if *proto != "lineage" && *proto != "centrifugo" {
		return fmt.Errorf("proto %q: want lineage or centrifugo", *proto)
	}
	f := &fleet{proto: *proto, cut: map[string]int{}}
	conns, failed, reason := f.open(*addr, *path, *n, *conc, srcs)
	fmt.Printf("READY connected=%d failed=%d\n", len(conns), failed)

	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "START" {
		return fmt.Errorf("want START on stdin")
	}
	cpu0 := selfCPU()
	t0 := time.Now()
	f.start.Store(t0.UnixNano())
	f.window.Store(true)
	if !in.Scan() || in.Text() != "STOP" {
		return fmt.Errorf("want STOP on stdin")
	}
	f.window.Store(false)
	win := time.Since(t0)
	f.mu.Lock()
	f.stopped = true
	rep := clientReport{
		Connected: len(conns), Failed: failed, FailReason: reason,
		Window: win.Seconds(), Messages: f.messages.Load(), Bytes: f.bytes.Load(),
		Gaps: f.gaps.Load(), Dups: f.dups.Load(), Pings: f.pings.Load(), NoTimestamp: f.noTS.Load(),
		CutReasons: f.cut, Trace: f.trace, CPU: selfCPU() - cpu0,
		Max: float64(f.maxNS.Load()) / 1e6,
	}
	for _, k := range f.cut {
		rep.Cut += k
	}
	f.mu.Unlock()
	rep.P50, rep.P99 = f.quantile(0.50), f.quantile(0.99)
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

// open dials n connections, conc at a time, and starts each one's reader.
func (f *fleet) open(addr, path string, n, conc int, srcs []net.IP) (conns []*conn, failed int, reason string) {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := f.dial(addr, path, srcs[i%len(srcs)], i == 0)
				mu.Lock()
				if err != nil {
					failed++
					reason = err.Error()
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return conns, failed, reason
}

func (f *fleet) dial(addr, path string, src net.IP, first bool) (*conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	d := ws.Dialer{NetDial: nd.DialContext, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, br, _, err := d.Dial(ctx, "ws://"+addr+path)
	if err != nil {
		return nil, err
	}
	c := &conn{f: f, nc: nc, first: first, rd: wsframe.NewClientSide(maxMessage)}
	var early []byte
	if br != nil {
		b, _ := br.Peek(br.Buffered())
		early = append(early, b...)
		ws.PutReader(br)
	}
	if f.proto == "centrifugo" {
		// Connect without a token, then subscribe: the server handles a
		// frame's commands in order.
		c.send(ws.OpText, []byte(`{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":"bench"}}`))
		if err := c.flush(); err != nil {
			nc.Close()
			return nil, err
		}
	}
	go c.readLoop(early)
	return c, nil
}

func (c *conn) readLoop(early []byte) {
	defer c.nc.Close()
	buf := make([]byte, readBuffer)
	copy(buf, early)
	n := len(early)
	var err error
	for {
		if n > 0 {
			c.now = time.Now()
			if perr := c.rd.Feed(buf[:n], c); perr != nil {
				if c.err == "" {
					c.err = perr.Error()
				}
				break
			}
			if c.err != "" {
				break
			}
			if err := c.flush(); err != nil {
				c.err = "write: " + err.Error()
				break
			}
		}
		if n, err = c.nc.Read(buf); err != nil {
			if c.err == "" {
				c.err = "read: " + err.Error()
			}
			if n <= 0 {
				break
			}
		}
	}
	c.f.ended(c.err)
}

// ended counts a connection that ended while the harness still wanted it.
func (f *fleet) ended(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.cut[reason]++
	}
}

// send queues one masked client frame; flush writes what is queued.
func (c *conn) send(op ws.OpCode, p []byte) {
	fr := ws.MaskFrameInPlace(ws.NewFrame(op, true, append([]byte(nil), p...)))
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, fr)
	c.out = append(c.out, b.Bytes()...)
}

func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	return err
}

// wsframe.Handler.

func (c *conn) Message(_ ws.OpCode, p []byte) {
	if c.f.proto == "lineage" {
		c.lineage(p)
		return
	}
	for len(p) > 0 { // Centrifugo puts several replies in a frame, one a line
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		c.centrifugo(line)
	}
}

func (c *conn) Ping(p []byte) {
	c.send(ws.OpPong, p)
	if c.f.window.Load() {
		c.f.pings.Add(1)
	}
}

func (c *conn) Pong([]byte) {}

func (c *conn) Closed(code ws.StatusCode, reason string) {
	c.err = fmt.Sprintf("close %d %s", code, reason)
	if len(c.err) > 60 {
		c.err = c.err[:60]
	}
	c.send(ws.OpClose, ws.NewCloseFrameBody(code, ""))
	_ = c.flush()
}

var (
	seqKey      = []byte(`"sequence":`)
	tsKey       = []byte(`"timestamp":"`)
	snapshotKey = []byte(`"snapshot":true`)
	welcome     = []byte(`{"type":"welcome"`)
)

// lineage reads one hub message: the welcome sets where the sequence
// starts, snapshots are skipped, every other message with a sequence is
// an event with its timestamp.
func (c *conn) lineage(p []byte) {
	i := bytes.LastIndex(p, seqKey)
	if i < 0 {
		return
	}
	seq, ok := parseUint(p[i+len(seqKey):])
	if !ok {
		return
	}
	if bytes.HasPrefix(p, welcome) {
		c.last, c.seen = seq, true
		return
	}
	if bytes.Contains(p, snapshotKey) {
		return
	}
	var ts time.Time
	if j := bytes.LastIndex(p, tsKey); j >= 0 {
		v := p[j+len(tsKey):]
		if k := bytes.IndexByte(v, '"'); k > 0 {
			ts, _ = time.Parse(time.RFC3339Nano, string(v[:k]))
		}
	}
	c.event(seq, ts, len(p))
}

var (
	pushKey = []byte(`{"push":`)
	nKey    = []byte(`"n":`)
	tKey    = []byte(`"t":`)
	errKey  = []byte(`"error":`)
)

// centrifugo reads one line of Centrifugo's JSON protocol: {} is a ping
// to answer with {}, a push carries a publication whose data the
// publisher made {"n":seq,"t":unix ns,"p":"padding"}, a reply with an
// error ends the connection.
func (c *conn) centrifugo(line []byte) {
	switch {
	case len(line) == 0:
	case string(line) == "{}":
		c.send(ws.OpText, []byte("{}"))
		if c.f.window.Load() {
			c.f.pings.Add(1)
		}
	case bytes.HasPrefix(line, pushKey):
		i, j := bytes.Index(line, nKey), bytes.Index(line, tKey)
		if i < 0 || j < 0 {
			return
		}
		seq, ok1 := parseUint(line[i+len(nKey):])
		ns, ok2 := parseUint(line[j+len(tKey):])
		if !ok1 || !ok2 {
			return
		}
		if !c.seen { // the first publication sets where this client starts
			c.last, c.seen = seq-1, true
		}
		c.event(seq, time.Unix(0, int64(ns)), len(line))
	case bytes.Contains(line, errKey):
		c.err = "reply " + string(line[:min(len(line), 60)])
		_ = c.nc.Close()
	}
}

// event counts one event: in order after the last, or a gap, or a
// duplicate; its latency; connection 0 traces it.
func (c *conn) event(seq uint64, ts time.Time, size int) {
	f := c.f
	switch {
	case !c.seen:
		c.last, c.seen = seq, true
	case seq == c.last+1:
		c.last = seq
	case seq > c.last+1:
		if f.window.Load() {
			f.gaps.Add(int64(seq - c.last - 1))
		}
		c.last = seq
	default:
		if f.window.Load() {
			f.dups.Add(1)
		}
		return
	}
	if !f.window.Load() {
		return
	}
	f.messages.Add(1)
	f.bytes.Add(int64(size))
	if ts.IsZero() {
		f.noTS.Add(1)
		return
	}
	d := c.now.Sub(ts)
	if d < 0 {
		d = 0
	}
	for {
		m := f.maxNS.Load()
		if int64(d) <= m || f.maxNS.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	f.hist[min(int(d/histStep), histSize-1)].Add(1)
	if c.first {
		f.mu.Lock()
		if len(f.trace) < traceLimit {
			f.trace = append(f.trace, traceEvent{At: c.now.Sub(time.Unix(0, f.start.Load())), Size: size})
		}
		f.mu.Unlock()
	}
}

// quantile is the latency under which q of the window's events came, in
// ms, to the histogram's 0.1 ms.
func (f *fleet) quantile(q float64) float64 {
	var total int64
	for i := range f.hist {
		total += f.hist[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := int64(q*float64(total)) + 1
	var seen int64
	for i := range f.hist {
		if seen += f.hist[i].Load(); seen >= want {
			return float64(time.Duration(i+1)*histStep) / 1e6
		}
	}
	return 0
}

// parseUint reads the decimal digits b starts with.
func parseUint(b []byte) (uint64, bool) {
	var n uint64
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	return n, i > 0
}

// parseSrcs reads "127.0.0.2-127.0.0.11" or a comma list of loopback
// addresses.
func parseSrcs(spec string) ([]net.IP, error) {
	var out []net.IP
	for _, part := range bytes.Split([]byte(spec), []byte(",")) {
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		a := net.ParseIP(string(lo)).To4()
		if a == nil || !a.IsLoopback() {
			return nil, fmt.Errorf("source %q: not an IPv4 loopback address", lo)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b := net.ParseIP(string(hi)).To4()
		if b == nil || !bytes.Equal(a[:3], b[:3]) || b[3] < a[3] {
			return nil, fmt.Errorf("source range %q: want a.b.c.x-a.b.c.y on loopback", part)
		}
		for i := int(a[3]); i <= int(b[3]); i++ {
			out = append(out, net.IPv4(a[0], a[1], a[2], byte(i)).To4())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no source address")
	}
	return out, nil
}
