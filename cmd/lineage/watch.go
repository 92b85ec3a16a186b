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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lxzan/gws"

	"github.com/lineage-arena/lineage/market"
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
	token := fs.String("token", "", tokenUsage)
	insecure := fs.Bool("insecure", false, "accept any TLS certificate (self-signed test servers)")
	retry := fs.Bool("retry", false, "wait for an unreachable server instead of exiting 1")
	if err := parseFlagsAndArgs(fs, env, args, 1); err != nil {
		return err
	}
	raw := "ws://127.0.0.1:9001"
	if fs.NArg() == 1 {
		raw = fs.Arg(0)
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
		return nil, handshakeError(u.Redacted(), resp, err)
	}
	c.conn = conn
	go conn.ReadLoop()
	return c, nil
}

// handshakeError says why a WebSocket upgrade failed. A server that answers
// in plain HTTP either refuses the upgrade (the statuses a Lineage server
// uses for that, docs/protocol.md) or is not a WebSocket server at all.
func handshakeError(addr string, resp *http.Response, err error) error {
	if resp == nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	switch resp.StatusCode {
	case http.StatusSwitchingProtocols:
		return fmt.Errorf("%s: not a WebSocket server (%v)", addr, err)
	case http.StatusUnauthorized:
		return fmt.Errorf("%s: the server refused the WebSocket upgrade: HTTP %s (it wants a token: $LINEAGE_TOKEN or --token)", addr, resp.Status)
	case http.StatusBadRequest, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return fmt.Errorf("%s: the server refused the WebSocket upgrade: HTTP %s", addr, resp.Status)
	}
	return fmt.Errorf("%s: not a WebSocket server (it answered HTTP %s to the upgrade)", addr, resp.Status)
}

// watchState is what watch carries from one connection to the next.
type watchState struct {
	last    uint64 // the last sequence printed (or the snapshot's), where a reconnect resumes
	printed int    // rows printed, for -n
}

// connState is what one connection knows: whether it resumes (?since=) and
// where the welcome put the snapshot.
type connState struct {
	resumed    bool
	welcomed   bool
	welcomeSeq uint64
	live       bool // an event after the welcome's sequence came: any snapshot is over
}

// watch runs connections until ctx is done or -n messages are printed. A
// subscription the server refuses ends it with a usage error.
func watch(ctx context.Context, o watchOpts, p *printer) error {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x7761746368))
	var st watchState
	resumed, attempt, headed := false, 0, o.json
	for {
		c, err := o.dial(st.last, resumed)
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
		if !headed { // once connected: a failure to connect is its error alone
			p.header()
			headed = true
		}
		done, why, err := o.session(ctx, c, p, &st, &connState{resumed: resumed})
		if done || err != nil {
			return err
		}
		resumed = true
		p.note("%s; reconnecting and resuming after sequence %d", why, st.last)
	}
}

// session reads one connection. It returns done when watch should stop,
// or why the connection ended.
func (o *watchOpts) session(ctx context.Context, c *watchConn, p *printer, st *watchState, s *connState) (bool, string, error) {
	heartbeat := time.NewTicker(o.heartbeat)
	defer heartbeat.Stop()
	if sub := o.subscription(); sub != nil {
		c.conn.WriteMessage(gws.OpcodeText, sub)
	}
	for {
		select {
		case <-ctx.Done():
			c.conn.WriteClose(watchNormalClose, []byte("bye"))
			return true, "", nil
		case <-heartbeat.C:
			c.conn.WriteMessage(gws.OpcodeText, []byte(`{"type":"heartbeat"}`))
		case err := <-c.closed:
			// Everything read before the end is already queued: print it first.
			for drained := false; !drained; {
				select {
				case b := <-c.msgs:
					if done, err := o.handle(b, p, st, s); done || err != nil {
						return true, "", err
					}
				default:
					drained = true
				}
			}
			return false, describeClose(err), nil
		case b := <-c.msgs:
			if done, err := o.handle(b, p, st, s); done || err != nil {
				c.conn.WriteClose(watchNormalClose, []byte("done"))
				return true, "", err
			}
		}
	}
}

// handle prints one message and reports whether -n is reached. The
// snapshot that follows a fresh connection's welcome is printed whole:
// its messages are marked "snapshot":true, and carry the welcome's
// sequence, so a message at or before that sequence ahead of any later
// one is taken as snapshot even unmarked. Other events print once: one at
// or before the last sequence printed is a repeat. Filtered out events
// (the snapshot may come before the server applied the subscription) are
// not printed. A subscription the server refuses is a usage error.
func (o *watchOpts) handle(b []byte, p *printer, st *watchState, s *connState) (bool, error) {
	var m watchMsg
	if err := json.Unmarshal(b, &m); err != nil || (m.Type == "" && m.EventType == "") {
		p.note("the server sent something that is not a Lineage message (%d bytes); ignoring it", len(b))
		return false, nil
	}
	m.raw = b
	switch {
	case m.Type == "welcome":
		s.welcomed, s.welcomeSeq = true, m.Sequence
		if s.resumed {
			return false, nil // one welcome is enough
		}
		// The snapshot is the state after the welcome's sequence: a
		// reconnect resumes from there.
		st.last = max(st.last, m.Sequence)
	case m.Type == "error" && m.Code == "subscribe":
		return true, usagef("the server refused the subscription: %s", m.Message)
	case m.kind() != "":
		snapshot := m.Snapshot || (!s.resumed && s.welcomed && !s.live && m.Sequence <= s.welcomeSeq)
		if !snapshot {
			s.live = true
			if m.Sequence <= st.last && st.last > 0 {
				return false, nil // already printed before a reconnect
			}
			st.last = m.Sequence
		}
		if !o.wants(&m) {
			return false, nil
		}
	}
	if o.json {
		fmt.Fprintln(p.w, string(b))
	} else if !p.print(&m) {
		return false, nil
	}
	st.printed++
	return o.n > 0 && st.printed >= o.n, nil
}

func (o *watchOpts) subscription() []byte {
	if len(o.symbols)+len(o.agents)+len(o.events) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"type": "subscribe", "symbols": o.symbols, "agents": o.agents, "events": o.events})
	return b
}

// wants applies the subscription's filters to an event as the server does
// (docs/protocol.md): symbols filter market and trade events, agents filter
// agent, trade, scar, death and spawn events (a spawn by parent or child),
// events filter by type.
func (o *watchOpts) wants(m *watchMsg) bool {
	kind := m.kind()
	if len(o.events) > 0 && !slices.Contains(o.events, kind) {
		return false
	}
	sym, agents := m.subjects()
	if len(o.symbols) > 0 && sym != "" && !slices.ContainsFunc(o.symbols, func(s string) bool { return sameSymbol(s, sym) }) {
		return false
	}
	if len(o.agents) > 0 && len(agents) > 0 && !slices.ContainsFunc(agents, func(a string) bool { return slices.Contains(o.agents, a) }) {
		return false
	}
	return true
}

// sameSymbol compares symbols as the server does, after parsing: btc-usd
// and BTC/USD are BTC-USD.
func sameSymbol(a, b string) bool {
	pa, errA := market.ParseSymbol(a)
	pb, errB := market.ParseSymbol(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa == pb
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
