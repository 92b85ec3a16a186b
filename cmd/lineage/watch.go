package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lxzan/gws"
)

const watchAbout = `lineage watch [URL]: the terminal client. Connects to a running server
(default ws://127.0.0.1:9001), prints every event as a table row, reconnects with
backoff when the connection drops and resumes from the last sequence it printed,
so nothing is missed or printed twice across a server restart.`

// Timing of watch, named so tests and docs can refer to them.
const (
	watchHeartbeat   = 30 * time.Second // a heartbeat message goes out this often
	watchSilence     = 75 * time.Second // a server silent this long is gone
	watchBackoffMin  = 500 * time.Millisecond
	watchBackoffMax  = 30 * time.Second
	maxWatchMessage  = 1 << 20
	watchNormalClose = 1000
)

type watchOpts struct {
	url      *url.URL
	n        int
	json     bool
	symbols  []string
	agents   []string
	events   []string
	token    string
	insecure bool
	retry    bool
	// heartbeat and silence are watchHeartbeat and watchSilence; tests
	// shorten them.
	heartbeat, silence time.Duration
}

func runWatch(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet("watch", env, watchAbout)
	n := fs.Int("n", 0, "stop after N messages (0: never)")
	asJSON := fs.Bool("json", false, "print each message raw, one per line (for jq)")
	var symbols, agents, events listFlag
	fs.Var(&symbols, "symbols", "only these symbols (comma-separated)")
	fs.Var(&agents, "agents", "only these agents (comma-separated)")
	fs.Var(&events, "events", "only these event types: market, agent, trade, scar, death, spawn, round")
	token := fs.String("token", "", "bearer token the server requires")
	insecure := fs.Bool("insecure", false, "accept any TLS certificate (self-signed test servers)")
	retry := fs.Bool("retry", false, "wait for an unreachable server instead of exiting 1")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	raw := "ws://127.0.0.1:9001"
	switch fs.NArg() {
	case 0:
	case 1:
		raw = fs.Arg(0)
	default:
		return usagef("one URL at most, got %d arguments", fs.NArg())
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return usagef("URL %q: want ws://host:port or wss://host:port", raw)
	}
	if *n < 0 {
		return usagef("-n %d: must not be negative", *n)
	}
	o := watchOpts{url: u, n: *n, json: *asJSON, symbols: symbols, agents: agents, events: events, token: *token,
		insecure: *insecure, retry: *retry, heartbeat: watchHeartbeat, silence: watchSilence}
	tty := env.StdoutIsTerminal
	p := &printer{w: env.Stdout, emoji: tty, color: tty && env.Getenv("NO_COLOR") == ""}
	return watch(ctx, o, p)
}

// watchConn is one connection's messages and end, fed by its read loop.
type watchConn struct {
	conn   *gws.Conn
	msgs   chan []byte
	closed chan error // one value: why the connection ended
}

type watchHandler struct {
	c       *watchConn
	silence time.Duration
}

func (h watchHandler) OnOpen(c *gws.Conn) { c.SetReadDeadline(time.Now().Add(h.silence)) }
func (h watchHandler) OnClose(_ *gws.Conn, err error) {
	h.c.closed <- err
}
func (h watchHandler) OnPing(c *gws.Conn, p []byte) {
	c.SetReadDeadline(time.Now().Add(h.silence))
	c.WritePong(p)
}
func (h watchHandler) OnPong(c *gws.Conn, _ []byte) { c.SetReadDeadline(time.Now().Add(h.silence)) }
func (h watchHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	c.SetReadDeadline(time.Now().Add(h.silence))
	b := append([]byte(nil), m.Bytes()...)
	m.Close()
	h.c.msgs <- b
}

func (o *watchOpts) dial(since uint64, resume bool) (*watchConn, error) {
	u := *o.url
	q := u.Query()
	if resume {
		q.Set("since", strconv.FormatUint(since, 10))
	}
	u.RawQuery = q.Encode()
	hdr := http.Header{}
	if o.token != "" {
		hdr.Set("Authorization", "Bearer "+o.token)
	}
	c := &watchConn{msgs: make(chan []byte, 1024), closed: make(chan error, 1)}
	opt := &gws.ClientOption{Addr: u.String(), RequestHeader: hdr, ReadMaxPayloadSize: maxWatchMessage, HandshakeTimeout: 10 * time.Second}
	if u.Scheme == "wss" {
		opt.TlsConfig = &tls.Config{InsecureSkipVerify: o.insecure, MinVersion: tls.VersionTLS12}
	}
	conn, resp, err := gws.NewClient(watchHandler{c, o.silence}, opt)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: %s", u.Redacted(), resp.Status)
		}
		return nil, fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	c.conn = conn
	go conn.ReadLoop()
	return c, nil
}

// watch runs connections until ctx is done or -n messages are printed.
func watch(ctx context.Context, o watchOpts, p *printer) error {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x7761746368))
	var last uint64
	printed, resumed, attempt := 0, false, 0
	if !o.json {
		p.header()
	}
	for {
		c, err := o.dial(last, resumed)
		if err != nil {
			if !resumed && !o.retry {
				return err
			}
			attempt++
			wait := backoff(attempt, rng)
			p.note("cannot connect (%v); retrying in %s", err, wait.Round(time.Millisecond))
			if !sleepCtx(ctx, wait) {
				return nil
			}
			continue
		}
		attempt = 0
		done, why := o.session(ctx, c, p, &last, &printed, resumed)
		if done {
			return nil
		}
		resumed = true
		p.note("%s; reconnecting and resuming after sequence %d", why, last)
	}
}

// session reads one connection. It returns done when watch should stop,
// or why the connection ended.
func (o *watchOpts) session(ctx context.Context, c *watchConn, p *printer, last *uint64, printed *int, resumed bool) (bool, string) {
	heartbeat := time.NewTicker(o.heartbeat)
	defer heartbeat.Stop()
	if sub := o.subscription(); sub != nil {
		c.conn.WriteMessage(gws.OpcodeText, sub)
	}
	for {
		select {
		case <-ctx.Done():
			c.conn.WriteClose(watchNormalClose, []byte("bye"))
			return true, ""
		case <-heartbeat.C:
			c.conn.WriteMessage(gws.OpcodeText, []byte(`{"type":"heartbeat"}`))
		case err := <-c.closed:
			// Everything read before the end is already queued: print it first.
			for drained := false; !drained; {
				select {
				case b := <-c.msgs:
					if o.handle(b, p, last, printed, resumed) {
						return true, ""
					}
				default:
					drained = true
				}
			}
			return false, describeClose(err)
		case b := <-c.msgs:
			if o.handle(b, p, last, printed, resumed) {
				c.conn.WriteClose(watchNormalClose, []byte("done"))
				return true, ""
			}
		}
	}
}

// handle prints one message and reports whether -n is reached.
func (o *watchOpts) handle(b []byte, p *printer, last *uint64, printed *int, resumed bool) bool {
	var m watchMsg
	if err := json.Unmarshal(b, &m); err != nil || (m.Type == "" && m.EventType == "") {
		p.note("the server sent something that is not a Lineage message (%d bytes); ignoring it", len(b))
		return false
	}
	m.raw = b
	if m.kind() != "" && !m.Snapshot {
		if m.Sequence <= *last && *last > 0 {
			return false // already printed before a reconnect
		}
		*last = m.Sequence
	}
	if m.Type == "welcome" && resumed {
		return false // one welcome is enough
	}
	if o.json {
		fmt.Fprintln(p.w, string(b))
	} else if !p.print(&m) {
		return false
	}
	*printed++
	return o.n > 0 && *printed >= o.n
}

func (o *watchOpts) subscription() []byte {
	if len(o.symbols)+len(o.agents)+len(o.events) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"type": "subscribe", "symbols": o.symbols, "agents": o.agents, "events": o.events})
	return b
}

// describeClose says why a connection ended, with the server's close
// reason when it gave one.
func describeClose(err error) string {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		if len(ce.Reason) > 0 {
			return fmt.Sprintf("the server closed the connection (%d: %s)", ce.Code, ce.Reason)
		}
		return fmt.Sprintf("the server closed the connection (%d)", ce.Code)
	}
	if err != nil && strings.Contains(err.Error(), "timeout") {
		return "the server went silent"
	}
	if err == nil {
		return "the connection ended"
	}
	return "the connection dropped (" + err.Error() + ")"
}

// backoff is exponential with full jitter between watchBackoffMin and
// watchBackoffMax.
func backoff(attempt int, rng *rand.Rand) time.Duration {
	ceil := watchBackoffMin << min(attempt, 10)
	if ceil > watchBackoffMax {
		ceil = watchBackoffMax
	}
	return watchBackoffMin/2 + time.Duration(rng.Int64N(int64(ceil)))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
