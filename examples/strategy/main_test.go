package main

import (
	"context"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/server"
)

// The program serves its breakout agents: a client of the protocol gets
// the welcome and a snapshot holding them, with their strategy; the
// program stops cleanly when its context ends.
func TestStrategyServed(t *testing.T) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	serving := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, options{dir: t.TempDir(), wsAddr: "127.0.0.1:0", metricsAddr: "127.0.0.1:0", tick: 5 * time.Millisecond,
			started: func(s *server.Server) { serving <- s.WSAddr() }})
	}()
	var addr string
	select {
	case addr = <-serving:
	case err := <-done:
		t.Fatalf("run ended before serving: %v", err)
	}
	c, err := client.Dial(ctx, "ws://"+addr+"/", client.Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if w := c.Welcome(); w.Type != "welcome" {
		t.Fatalf("welcome: %+v", w)
	}
	found := map[string]string{}
	for {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Snapshot {
			break
		}
		if m.Agent != nil {
			found[m.Agent.ID] = m.Agent.Strategy
		}
	}
	for _, id := range []string{"Breakout", "Breakout-Fast"} {
		if found[id] != "breakout" {
			t.Errorf("the snapshot's agents %v lack %s trading breakout", found, id)
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
