package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// httpServer is one of serve's HTTP servers: listening on its address,
// serving on a goroutine it owns, stopped and waited for by stop.
type httpServer struct {
	srv  *http.Server
	addr string // the address it listens on, port resolved
	done sync.WaitGroup
	err  error // Serve's result, read after done
}

// listenAndServe listens on addr (flag names it in errors) and serves h,
// with TLS when cert and key are set.
func listenAndServe(flag, addr string, h http.Handler, cert, key string, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	s := &httpServer{addr: ln.Addr().String(), srv: &http.Server{
		Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		if cert != "" {
			s.err = s.srv.ServeTLS(ln, cert, key)
		} else {
			s.err = s.srv.Serve(ln)
		}
	}()
	return s, nil
}

// stop shuts the server down within budget and waits for its goroutine.
func (s *httpServer) stop(budget time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.done.Wait()
	if errors.Is(s.err, http.ErrServerClosed) {
		s.err = nil
	}
	return errors.Join(err, s.err)
}
