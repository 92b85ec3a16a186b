package edge_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/edge"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/natspub"
)

// An engine publishes to JetStream; an edge serves its clients from the
// stream. An embedded NATS server stands in for a cluster.
func Example() {
	dir, err := os.MkdirTemp("", "lineage-edge-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir + "/nats", NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats server not ready")
	}

	// The engine's side: a run, and its publisher.
	syms := []market.Symbol{"BTC-USD", "ETH-USD"}
	e, err := engine.Open(context.Background(), engine.Config{
		Dir: dir + "/data",
		Found: func() (engine.Founding, error) {
			return engine.Founding{Arena: arena.Config{Symbols: syms, Seed: 42}, Roster: arena.DefaultRoster(), Feed: "sim"}, nil
		},
		TickInterval: time.Millisecond, AgentInterval: time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	p, err := natspub.Open(context.Background(), e, natspub.Config{URL: ns.ClientURL(), RunID: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ctx, stop := context.WithCancel(context.Background())
	steps := 0
	e.Subscribe(func(engine.Step) {
		if steps++; steps == 5 {
			stop()
		}
	})
	if err := e.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Symbols: syms, Seed: 42})}); err != nil {
		log.Fatal(err)
	}

	// The edge's side: the stream and snapshots of run "example".
	ed, err := edge.Open(context.Background(), edge.Config{URL: ns.ClientURL(), RunID: "example", MaxLag: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer ed.Close(time.Second)
	srv := httptest.NewServer(ed.Hub())
	defer srv.Close()
	// Poll readiness, a real signal, for at most a minute (a loaded
	// machine running the race detector is slow).
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(time.Minute); (ed.Ready() != nil || ed.Stats().Delivered < e.Snapshot().NextSeq-1) && time.Now().Before(deadline); {
		<-tick.C
	}

	c, err := client.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("welcome at the engine's last event:", c.Welcome().Sequence == e.Snapshot().NextSeq-1)
	m, err := c.Next(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	symbol := "(no market)"
	if m.Market != nil {
		symbol = m.Market.Symbol
	}
	fmt.Println("then the snapshot:", m.Snapshot, m.Type, symbol)
	s := ed.Stats()
	fmt.Println("lag", s.Lag, "chain failures", s.ChainFailures)
	// Output:
	// welcome at the engine's last event: true
	// then the snapshot: true market BTC-USD
	// lag 0 chain failures 0
}
