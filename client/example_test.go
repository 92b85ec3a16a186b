package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/client"
	"github.com/lineage-arena/lineage/hub"
)

// Follow a server's stream: the welcome, the snapshot, then live events.
// A dropped connection or a server restart is handled inside Next.
func Example() {
	// A server to follow: a hub that has published 10 events (events and
	// snapshot, in helpers_test.go, make arena events and state).
	h := hub.New(hub.Config{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close(time.Second)
	h.Publish(events(1, 10), snapshot())
	h.Flush()

	ctx := context.Background()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), client.Options{
		Filter: client.Filter{Events: []string{client.TypeMarket}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println("welcome at sequence", c.Welcome().Sequence)

	seen := 0
	for m, err := range c.Messages(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		switch {
		case m.Market != nil:
			fmt.Println(m.Sequence, m.Snapshot, m.Market.Symbol, m.Market.Price)
			seen++
		case m.Type == client.TypeSubscribed:
			h.Publish(events(11, 4), nil) // the server has the filter: go live
		}
		if seen == 4 {
			return
		}
	}
	// Output:
	// welcome at sequence 10
	// 10 true BTC-USD 45150.32
	// 10 true ETH-USD 2499.50
	// 11 false ETH-USD 45011.00
	// 13 false BTC-USD 45013.00
}
