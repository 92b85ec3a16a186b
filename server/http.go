package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// httpLimits are the bounds of one of the Server's HTTP servers. The zero value
// of each field is its documented default.
type httpLimits struct {
	// MaxConns bounds the TCP connections open at once, HTTP and
	// WebSocket alike; one past it is closed as soon as it is accepted.
	// Zero means no bound.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request's header. Default 5 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request. Default 10 s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response, from the end of its request.
	// Default 30 s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long between
	// requests. Default 60 s.
	IdleTimeout time.Duration
}

// Defaults of httpLimits.
const (
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 10 * time.Second
	defaultWriteTimeout      = 30 * time.Second
	defaultIdleTimeout       = 60 * time.Second
)

func (l httpLimits) withDefaults() httpLimits {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, defaultReadHeaderTimeout)
	def(&l.ReadTimeout, defaultReadTimeout)
	def(&l.WriteTimeout, defaultWriteTimeout)
	def(&l.IdleTimeout, defaultIdleTimeout)
	return l
}

// boundedListener accepts at most max connections at once; one beyond is
// closed as soon as it is accepted, so that no load of clients can take the
// descriptors the log and the graveyard need. A connection stops counting
// when the HTTP server closes it or hands it to a WebSocket (hijacked),
// from where others counts it until it closes.
type boundedListener struct {
	net.Listener
	max     int64
	open    atomic.Int64 // accepted, neither closed nor hijacked
	others  func() int64 // connections hijacked and still open; may be nil
	refused atomic.Uint64
}

func (b *boundedListener) Accept() (net.Conn, error) {
	for {
		c, err := b.Listener.Accept()
		if err != nil || b.max <= 0 {
			return c, err
		}
		n := b.open.Load()
		if b.others != nil {
			n += b.others()
		}
		if n >= b.max {
			b.refused.Add(1) // counted before the client can see the close
			c.Close()
			continue
		}
		b.open.Add(1)
		return c, nil
	}
}

// connState is the HTTP server's ConnState hook: it stops counting a
// connection that is closed or hijacked. (net/http clears a hijacked
// connection's deadlines: the request's timeouts never reach a WebSocket,
// which keeps its own.)
func (b *boundedListener) connState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateHijacked, http.StateClosed:
		b.open.Add(-1)
	}
}

// httpServer is one of the Server's HTTP servers: listening on its address,
// serving on a goroutine it owns, stopped and waited for by stop.
type httpServer struct {
	ln     *boundedListener
	srv    *http.Server
	addr   string // the address it listens on, port resolved
	done   sync.WaitGroup
	served bool
	err    error // Serve's result, read after done
}

// listen binds addr before anything else is started, so that a busy
// address changes nothing.
func listen(addr string, lim httpLimits) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	b := &boundedListener{Listener: ln, max: int64(lim.MaxConns)}
	s := &httpServer{ln: b, addr: ln.Addr().String(), srv: &http.Server{
		ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout, ConnState: b.connState,
	}}
	return s, nil
}

// serve serves h on the bound listener on a goroutine of its own, with TLS
// when tc is set.
func (s *httpServer) serve(h http.Handler, tc *tls.Config, log *slog.Logger) {
	s.srv.Handler = h
	s.srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	if tc != nil {
		s.srv.TLSConfig = tc.Clone()
	}
	s.served = true
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		if tc != nil {
			s.err = s.srv.ServeTLS(s.ln, "", "")
		} else {
			s.err = s.srv.Serve(s.ln)
		}
	}()
}

// stop shuts the server down within budget and waits for its goroutine;
// a server that never served just releases its address.
func (s *httpServer) stop(budget time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	return s.shutdown(ctx)
}

// shutdown is stop until ctx is done.
func (s *httpServer) shutdown(ctx context.Context) error {
	if !s.served {
		return s.ln.Close()
	}
	err := s.srv.Shutdown(ctx)
	s.done.Wait()
	if errors.Is(s.err, http.ErrServerClosed) {
		s.err = nil
	}
	return errors.Join(err, s.err)
}
