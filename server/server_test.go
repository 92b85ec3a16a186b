package server_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/server"
)

func openEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.Open(t.Context(), engine.Config{
		Dir: t.TempDir(), TickInterval: time.Millisecond, AgentInterval: time.Hour,
		Found: func() (engine.Founding, error) {
			return engine.Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 3}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// A served engine streams to a client of the protocol: the welcome, the
// snapshot, then durable events; Close sends 1001 (going away) to it, and
// a second Close returns the first one's result.
func TestServeAndClose(t *testing.T) {
	srv, err := server.Listen(server.Config{WSAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t)
	if err := srv.Start(e); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(e); err == nil {
		t.Error("a second Start succeeded")
	}
	ctx, stop := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Seed: 3})}) }()

	c, err := client.Dial(t.Context(), "ws://"+srv.WSAddr()+"/", client.Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Next(t.Context())
	if err != nil || !m.Snapshot {
		t.Fatalf("first message after the welcome: %+v %v, want the snapshot's", m, err)
	}
	for m.Sequence == 0 {
		if m, err = c.Next(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Close(cctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for {
		_, err = c.Next(t.Context())
		if err != nil {
			break
		}
	}
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 1001 {
		t.Errorf("the client's connection ended with %v, want a 1001 close", err)
	}
	if err := srv.Close(cctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := net.Dial("tcp", srv.MetricsAddr()); err == nil {
		t.Error("the metrics address still answers after Close")
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

// A busy address is a *ListenError naming it, and nothing is left bound.
func TestListenBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = server.Listen(server.Config{WSAddr: "127.0.0.1:0", MetricsAddr: ln.Addr().String()})
	var le *server.ListenError
	if !errors.As(err, &le) || !le.Metrics || le.Addr != ln.Addr().String() {
		t.Fatalf("Listen on a busy metrics address: %v", err)
	}
	// A Server never started releases its addresses on Close.
	srv, err := server.Listen(server.Config{WSAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.WSAddr()
	if err := srv.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the address of a closed Server: %v", err)
	}
	again.Close()
}
