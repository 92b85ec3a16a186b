package server_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/server"
)

// Serve a run with the full stack of `lineage serve`: bind, open the data
// dir, start the server, run; then follow it with the client.
func Example() {
	dir, err := os.MkdirTemp("", "lineage-server-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	// Bind first: a busy port leaves the data dir untouched.
	srv, err := server.Listen(server.Config{WSAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	e, err := engine.Open(ctx, engine.Config{
		Dir: dir, TickInterval: 10 * time.Millisecond,
		Found: func() (engine.Founding, error) {
			return engine.Founding{Arena: arena.Config{Symbols: market.DefaultSymbols, Seed: 1}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	srv.Start(e)
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Seed: 1})}) }()

	c, err := client.Dial(ctx, "ws://"+srv.WSAddr()+"/", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Welcome().Type, "then the snapshot:", m.Snapshot)

	shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	srv.Close(shutdown) // 1001 to every client
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output: welcome then the snapshot: true
}
