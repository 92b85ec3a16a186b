package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// heartbeat is the message that keeps a connection's path open.
var heartbeat = []byte(`{"type":"heartbeat"}`)

// session is one connection: its read loop (gws) queues messages in msgs
// and closes done when the connection ends, err set.
type session struct {
	conn     *gws.Conn
	silence  time.Duration
	msgs     chan []byte
	done     chan struct{}
	err      error // why the connection ended; set before done is closed
	stop     chan struct{}
	stopOnce sync.Once

	// Owned by the goroutine calling Next.
	resumed    bool   // it asked for history (?since=), not a snapshot
	welcomed   bool   // its welcome came
	welcomeSeq uint64 // the welcome's sequence: the snapshot's
	live       bool   // an event after the snapshot came
}

func (s *session) OnOpen(c *gws.Conn) { c.SetReadDeadline(time.Now().Add(s.silence)) }
func (s *session) OnClose(_ *gws.Conn, err error) {
	s.err = err
	close(s.done)
}
func (s *session) OnPing(c *gws.Conn, p []byte) {
	c.SetReadDeadline(time.Now().Add(s.silence))
	c.WritePong(p)
}
func (s *session) OnPong(c *gws.Conn, _ []byte) { c.SetReadDeadline(time.Now().Add(s.silence)) }
func (s *session) OnMessage(c *gws.Conn, m *gws.Message) {
	c.SetReadDeadline(time.Now().Add(s.silence))
	b := append([]byte(nil), m.Bytes()...)
	m.Close()
	select {
	case s.msgs <- b:
	case <-s.stop:
	}
}

// shutdown stops the connection: a normal close frame, then the socket.
func (s *session) shutdown() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		s.conn.WriteClose(1000, nil)
		s.conn.NetConn().Close()
	})
}

// heartbeats sends a heartbeat every d until the connection ends.
func (s *session) heartbeats(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.conn.WriteMessage(gws.OpcodeText, heartbeat)
		case <-s.done:
			return
		case <-s.stop:
			return
		}
	}
}

// reason says why the connection ended: a *CloseError with the server's
// code and reason, ErrSilent, or a *DropError.
func (s *session) reason(silence time.Duration) error {
	var ce *gws.CloseError
	switch {
	case errors.As(s.err, &ce):
		return &CloseError{Code: ce.Code, Reason: string(ce.Reason)}
	case errors.Is(s.err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w (nothing for %s)", ErrSilent, silence)
	case s.err == nil || s.err.Error() == "":
		return &DropError{Err: io.EOF}
	}
	return &DropError{Err: s.err}
}

// connect makes one connection: TCP (and TLS), the upgrade with the
// schema, since and token, then the reader, the heartbeat and the
// subscription.
func (c *Conn) connect(ctx context.Context) (*session, error) {
	u := *c.base
	if c.resume {
		q := u.Query()
		q.Set("since", strconv.FormatUint(c.last, 10))
		u.RawQuery = q.Encode()
	}
	addr := u.Redacted()
	fail := func(status int, st string, err error) error {
		return &DialError{URL: addr, StatusCode: status, Status: st, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
	defer cancel()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.dialCancel = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.dialCancel = nil
		c.mu.Unlock()
	}()

	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, c.dialErr(fail(0, "", err))
	}
	if u.Scheme == "wss" {
		cfg := c.opts.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, c.dialErr(fail(0, "", err))
		}
		nc = tc
	}
	hdr := http.Header{}
	if c.opts.Token != "" {
		hdr.Set("Authorization", "Bearer "+c.opts.Token)
	}
	s := &session{silence: c.opts.ReadTimeout, msgs: make(chan []byte, QueueBound), done: make(chan struct{}),
		stop: make(chan struct{}), resumed: c.resume}
	// A cancelled ctx (or Close) ends the upgrade: gws takes no ctx.
	unwatch := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	conn, resp, err := gws.NewClientFromConn(s, &gws.ClientOption{Addr: u.String(), RequestHeader: hdr,
		ReadMaxPayloadSize: c.opts.MaxMessageSize, HandshakeTimeout: c.opts.HandshakeTimeout}, nc)
	if !unwatch() && err == nil {
		conn.NetConn().Close()
		return nil, c.dialErr(fail(0, "", ctx.Err()))
	}
	if err != nil {
		if resp == nil {
			return nil, c.dialErr(fail(0, "", err))
		}
		resp.Body.Close()
		return nil, c.dialErr(fail(resp.StatusCode, resp.Status, err))
	}
	resp.Body.Close()
	s.conn = conn

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		conn.NetConn().Close()
		return nil, ErrClosed
	}
	c.live = s
	c.wg.Go(conn.ReadLoop)
	if c.opts.Heartbeat > 0 {
		c.wg.Go(func() { s.heartbeats(c.opts.Heartbeat) })
	}
	c.mu.Unlock()
	if !c.opts.Filter.empty() {
		conn.WriteMessage(gws.OpcodeText, c.opts.Filter.subscribe())
	}
	return s, nil
}

// dialErr is err, or ErrClosed when Close cut the attempt short.
func (c *Conn) dialErr(err error) error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
		return err
	}
}
