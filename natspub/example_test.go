package natspub_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/engine"
	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
	"github.com/lineage-arena/lineage/natspub"
)

// A run's first three steps published to JetStream: an embedded NATS
// server stands in for a cluster, and the stream is read back.
func Example() {
	dir, err := os.MkdirTemp("", "lineage-natspub-example")
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
	p, err := natspub.Open(context.Background(), e, natspub.Config{URL: ns.ClientURL(), Stream: "RUN", Subject: "run.events"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx, stop := context.WithCancel(context.Background())
	steps := 0
	e.Subscribe(func(engine.Step) {
		if steps++; steps == 3 {
			stop()
		}
	})
	if err := e.Run(ctx, engine.Feed{Source: feed.NewSim(feed.SimConfig{Symbols: syms, Seed: 42})}); err != nil {
		log.Fatal(err)
	}
	// Poll the lag, a real signal, for at most a minute.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(time.Minute); p.Stats().Lag > 0 && time.Now().Before(deadline); {
		<-tick.C
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), "RUN")
	if err != nil {
		log.Fatal(err)
	}
	for seq := uint64(1); seq <= 6; seq++ { // the first three steps (a fourth may have been committed before Run stopped)
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			log.Fatal(err)
		}
		n, _ := strconv.Atoi(m.Header.Get("Nats-Batch-Sequence"))
		fmt.Printf("stream %d: event %s, batch message %d%s\n", seq, m.Header.Get(natspub.HeaderSeq), n,
			map[bool]string{true: ", commit"}[m.Header.Get("Nats-Batch-Commit") == "1"])
	}
	s := p.Stats()
	fmt.Printf("lag %d, diverged %v\n", s.Lag, s.Diverged)
	// Output:
	// stream 1: event 1, batch message 1
	// stream 2: event 2, batch message 2, commit
	// stream 3: event 3, batch message 1
	// stream 4: event 4, batch message 2, commit
	// stream 5: event 5, batch message 1
	// stream 6: event 6, batch message 2, commit
	// lag 0, diverged false
}
