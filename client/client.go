// Package client follows a Lineage server's WebSocket stream
// (docs/protocol.md): the welcome, the snapshot, then every event in
// sequence order, across dropped connections and server restarts.
//
// Dial connects and reads the welcome; Next (or the range form, Messages)
// returns what follows. When a connection ends, the Conn reconnects by
// itself with jittered exponential backoff and resumes after the last
// sequence it read (?since=), so the caller sees no gap and no duplicate;
// the one gap it lets through is the one the server announces, a message
// of type resume with code truncated. Both schemas are read into the same
// Message; Options choose the schema, the filter (sent as the subscribe
// message), the token, TLS and the timings.
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:9001", client.Options{})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	for m, err := range c.Messages(ctx) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(m.Type, m.Sequence)
//	}
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"
)

// Defaults of Options, named so callers and docs can refer to them.
const (
	DefaultHeartbeat        = 30 * time.Second
	DefaultReadTimeout      = 75 * time.Second
	DefaultBackoffMin       = 500 * time.Millisecond
	DefaultBackoffMax       = 30 * time.Second
	DefaultMaxMessageSize   = 1 << 20
	DefaultHandshakeTimeout = 10 * time.Second
)

// QueueBound is how many messages a connection reads ahead of Next. When
// it is full the Conn stops reading; a server that then finds the client
// too slow closes the connection (1008), and the Conn resumes.
const QueueBound = 1024

// Options configure a Conn. The zero value is a v1 client with no filter,
// no token, the system's TLS roots and the default timings.
type Options struct {
	// Schema is "v1" or "v2" (?schema=); "" keeps the URL's own schema
	// parameter, or the server's default, v1. Next reads either.
	Schema string
	// Filter is sent as the subscribe message on every connection and
	// applied to what comes; a refusal ends Next with a *SubscribeError.
	Filter Filter
	// Token is sent as "Authorization: Bearer <token>".
	Token string
	// TLSConfig is for wss:// URLs; nil means the system's roots and TLS
	// 1.2 or later. ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// Heartbeat is how often a heartbeat message goes out; 0 means
	// DefaultHeartbeat, a negative value none.
	Heartbeat time.Duration
	// ReadTimeout gives up a connection on which nothing (a message, a
	// ping) came for this long, and reconnects; 0 means DefaultReadTimeout.
	// The server pings idle clients every 30 s.
	ReadTimeout time.Duration
	// MaxMessageSize bounds a message from the server; a larger one drops
	// the connection. 0 means DefaultMaxMessageSize.
	MaxMessageSize int
	// HandshakeTimeout bounds a connection's dial, TLS and upgrade, and
	// Dial's wait for the welcome; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait before a reconnection:
	// after n failed attempts it is drawn in [c/2, c), c = min(BackoffMin
	// << n, BackoffMax). 0 means DefaultBackoffMin and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Rand draws the backoff's jitter; nil means a source seeded from the
	// clock. A Conn uses it from one goroutine at a time.
	Rand rand.Source
	// Resume starts with the history after Since instead of a snapshot:
	// for a caller that kept the last sequence it handled.
	Resume bool
	Since  uint64
	// NoReconnect ends Next with the reason when a connection ends (a
	// *CloseError, a *DropError or ErrSilent) instead of reconnecting.
	NoReconnect bool
	// RetryDial makes Dial wait for an unreachable server, retrying with
	// the same backoff until ctx is done, instead of returning the first
	// failure.
	RetryDial bool
	// OnRetry, when set, is told of each reconnection (or Dial retry)
	// before its wait. It is called on the goroutine calling Next (or
	// Dial), in order with the messages Next returns.
	OnRetry func(Retry)
	// OnInvalid, when set, is given each message that is not a Lineage
	// message (not a JSON object with a type), which Next skips. It is
	// called on the goroutine calling Next.
	OnInvalid func(raw []byte)
}

// Retry describes a reconnection about to be attempted.
type Retry struct {
	// Err is why: how the last connection ended (Lost), or why the last
	// attempt failed (a *DialError).
	Err  error
	Lost bool
	// Attempt counts attempts since the last connection that was
	// welcomed, from 1.
	Attempt int
	// Wait is how long the Conn waits before the attempt.
	Wait time.Duration
	// Resume reports whether the attempt resumes, after Since.
	Resume bool
	Since  uint64
}

// Conn is a client's stream from one server, over as many connections as
// it takes. Next (or Messages) is called by one goroutine at a time;
// Close may be called from any goroutine, at any time, more than once.
// Every goroutine a Conn starts (a connection's reader and heartbeat) is
// gone when Close returns.
type Conn struct {
	opts    Options
	base    *url.URL
	rng     *rand.Rand
	welcome Message

	// The state of the stream, owned by the goroutine calling Next.
	cur      *session // nil between connections
	last     uint64   // the sequence a reconnection resumes after
	resume   bool     // the next connection resumes (?since=last)
	attempt  int      // failed attempts since the last welcome
	lost     error    // why cur ended, or why the last attempt failed
	lostConn bool     // lost is a connection's end, not a failed attempt
	err      error    // a final error: every Next returns it

	mu         sync.Mutex // guards live, closed, dialCancel
	live       *session
	closed     bool
	dialCancel context.CancelFunc
	closing    chan struct{} // closed by Close
	wg         sync.WaitGroup
}

// Dial connects to a Lineage server at rawURL (ws:// or wss://) and reads
// its welcome. ctx bounds this first connection only; Next takes its own.
// A failure is a *DialError, a server that does not welcome, or, with
// RetryDial, ctx's error. The caller closes the Conn.
func Dial(ctx context.Context, rawURL string, o Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("client: URL %q: want ws://host:port or wss://host:port", rawURL)
	}
	switch o.Schema {
	case "":
	case "v1", "v2":
		q := u.Query()
		q.Set("schema", o.Schema)
		u.RawQuery = q.Encode()
	default:
		return nil, fmt.Errorf("client: schema %q: want v1 or v2", o.Schema)
	}
	q := u.Query()
	q.Del("since") // the Conn's own
	u.RawQuery = q.Encode()
	o.Heartbeat = orDefault(o.Heartbeat, DefaultHeartbeat)
	o.ReadTimeout = orDefault(o.ReadTimeout, DefaultReadTimeout)
	o.HandshakeTimeout = orDefault(o.HandshakeTimeout, DefaultHandshakeTimeout)
	o.BackoffMin = orDefault(o.BackoffMin, DefaultBackoffMin)
	o.BackoffMax = max(orDefault(o.BackoffMax, DefaultBackoffMax), o.BackoffMin)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	src := o.Rand
	if src == nil {
		src = rand.NewPCG(uint64(time.Now().UnixNano()), 0x6c696e65616765)
	}
	c := &Conn{opts: o, base: u, rng: rand.New(src), last: o.Since, resume: o.Resume, closing: make(chan struct{})}
	for {
		s, err := c.connect(ctx)
		if err == nil {
			c.cur = s
			break
		}
		if !o.RetryDial || ctx.Err() != nil || errors.Is(err, ErrClosed) {
			c.Close()
			return nil, err
		}
		c.lost, c.lostConn = err, false
		if err := c.pause(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.awaitWelcome(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// awaitWelcome reads the first connection's welcome.
func (c *Conn) awaitWelcome(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
	defer cancel()
	s := c.cur
	for {
		var b []byte
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no welcome: %w", c.base.Redacted(), ctx.Err())
		case b = <-s.msgs:
		case <-s.done:
			select {
			case b = <-s.msgs:
			default:
				return fmt.Errorf("%s: no welcome: %w", c.base.Redacted(), s.reason(c.opts.ReadTimeout))
			}
		}
		m, _, err := c.handle(s, b)
		if err != nil {
			return err
		}
		if m.Type == TypeWelcome {
			c.welcome = m
			return nil
		}
		if m.Type != "" {
			return fmt.Errorf("%s: not a Lineage server: its first message is %q, not a welcome", c.base.Redacted(), m.Type)
		}
	}
}

// Welcome is the first connection's welcome: its Sequence is the last
// event published when the client joined (the snapshot's), its Text the
// server's greeting. Welcomes of later connections are not returned.
func (c *Conn) Welcome() Message { return c.welcome }

// Last is the sequence a reconnection resumes after: the last event read
// (delivered or filtered out), or the snapshot's. Keep it to start a
// later Conn with Options.Resume. Call it from Next's goroutine.
func (c *Conn) Last() uint64 { return c.last }

// Next returns the next message: the snapshot's events (Snapshot set),
// then events in sequence order, each once, and the control messages the
// server sends (subscribed, pong, error, resume). It reconnects as needed
// and blocks until a message comes, ctx is done (ctx.Err(), and a later
// Next goes on), or the stream ends: ErrClosed after Close, a
// *SubscribeError, or with NoReconnect the reason the connection ended.
func (c *Conn) Next(ctx context.Context) (Message, error) {
	for {
		if c.err != nil {
			return Message{}, c.err
		}
		select {
		case <-c.closing:
			return Message{}, ErrClosed
		default:
		}
		if c.cur == nil {
			if err := c.reconnect(ctx); err != nil {
				return Message{}, err
			}
			continue
		}
		s := c.cur
		var b []byte
		select {
		case <-ctx.Done():
			return Message{}, ctx.Err()
		case <-c.closing:
			return Message{}, ErrClosed
		case b = <-s.msgs:
		case <-s.done:
			// Everything read before the end is queued: it comes first.
			select {
			case b = <-s.msgs:
			default:
				c.end(s)
				if c.opts.NoReconnect {
					c.err = c.lost
					return Message{}, c.err
				}
				continue
			}
		}
		m, ok, err := c.handle(s, b)
		if err != nil {
			c.err = err
			return Message{}, err
		}
		if ok {
			return m, nil
		}
	}
}

// Messages is the range form of Next: it yields each message, or one
// final error and stops (ctx's error included).
func (c *Conn) Messages(ctx context.Context) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		for {
			m, err := c.Next(ctx)
			if !yield(m, err) || err != nil {
				return
			}
		}
	}
}

// handle reads one raw message from s, keeps the stream's state, and
// reports whether Next returns it. The snapshot after a fresh
// connection's welcome carries the welcome's sequence and is marked
// "snapshot":true (an event at or before that sequence ahead of any later
// one is taken as snapshot even unmarked, as older servers sent it).
// Other events come once: one at or before the last sequence read is a
// repeat. Events the filter does not want are read, not returned.
func (c *Conn) handle(s *session, b []byte) (Message, bool, error) {
	m, err := decode(b)
	if err != nil {
		if c.opts.OnInvalid != nil {
			c.opts.OnInvalid(b)
		}
		return Message{}, false, nil
	}
	switch {
	case m.Type == TypeWelcome:
		s.welcomed, s.welcomeSeq = true, m.Sequence
		c.attempt = 0
		if !s.resumed {
			// The snapshot is the state after the welcome's sequence: a
			// reconnection resumes from there.
			c.last = max(c.last, m.Sequence)
		}
		c.resume = true
		return m, false, nil
	case m.Type == TypeError && m.Code == "subscribe":
		return m, false, &SubscribeError{Reason: m.Text}
	case m.Event:
		if m.Snapshot || (!s.resumed && s.welcomed && !s.live && m.Sequence <= s.welcomeSeq) {
			m.Snapshot = true
		} else {
			s.live = true
			if m.Sequence <= c.last && c.last > 0 {
				return m, false, nil // read before a reconnection
			}
			c.last = m.Sequence
		}
		if !c.opts.Filter.wants(&m) {
			return m, false, nil
		}
	}
	return m, true, nil
}

// end retires a connection that ended.
func (c *Conn) end(s *session) {
	s.shutdown()
	c.mu.Lock()
	if c.live == s {
		c.live = nil
	}
	c.mu.Unlock()
	c.cur = nil
	c.lost, c.lostConn = s.reason(c.opts.ReadTimeout), true
}

// reconnect makes a new connection, waiting before each attempt.
func (c *Conn) reconnect(ctx context.Context) error {
	for {
		if err := c.pause(ctx); err != nil {
			return err
		}
		s, err := c.connect(ctx)
		if err == nil {
			c.cur = s
			return nil
		}
		if errors.Is(err, ErrClosed) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.lost, c.lostConn = err, false
	}
}

// pause tells OnRetry and waits the backoff before an attempt.
func (c *Conn) pause(ctx context.Context) error {
	wait := c.backoff(c.attempt)
	c.attempt++
	if c.opts.OnRetry != nil {
		c.opts.OnRetry(Retry{Err: c.lost, Lost: c.lostConn, Attempt: c.attempt, Wait: wait, Resume: c.resume, Since: c.last})
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return ErrClosed
	}
}

// backoff is the wait before an attempt after n failed ones: drawn in
// [ceil/2, ceil), ceil = min(BackoffMin << n, BackoffMax).
func (c *Conn) backoff(n int) time.Duration {
	ceil := c.opts.BackoffMax
	if n < 30 && c.opts.BackoffMin<<n < ceil && c.opts.BackoffMin<<n > 0 {
		ceil = c.opts.BackoffMin << n
	}
	half := ceil / 2
	if half <= 0 {
		return ceil
	}
	return half + time.Duration(c.rng.Int64N(int64(half)))
}

// Close ends the stream: it sends a normal close frame (1000) on the
// open connection, stops any dial in progress, and returns once every
// goroutine of the Conn is gone. Next then returns ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	close(c.closing)
	s, cancel := c.live, c.dialCancel
	c.live = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if s != nil {
		s.shutdown()
	}
	c.wg.Wait()
	return nil
}
