package hub

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// Close while clients connect, join and leave: no panic (a WaitGroup's
// Add racing its Wait), every connection ends, and a connection that
// arrives once the hub is closing is refused with 503 or a 1001 close.
func TestCloseUnderConnectingAndLeavingClients(t *testing.T) {
	for round := range 20 {
		h, srv := newTestHub(t, Config{})
		stable := mustDial(t, srv, "")
		stable.next(t)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 6 {
			wg.Go(func() {
				<-start
				for range 4 {
					c, resp, err := dial(t, srv, "", nil)
					if err != nil {
						if resp != nil && resp.StatusCode != http.StatusServiceUnavailable {
							t.Errorf("round %d: refused with %d, want 503", round, resp.StatusCode)
						}
						return
					}
					if round%2 == 0 {
						c.conn.NetConn().Close() // leaves at once
					}
				}
			})
		}
		close(start)
		h.Publish(events(1, 50), nil)
		if err := h.Close(5 * time.Second); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		wg.Wait()
		if code, _ := stable.closeCode(t); code != 1001 {
			t.Fatalf("round %d: close code %d, want 1001", round, code)
		}
		if n := h.Stats().Connections; n != 0 {
			t.Fatalf("round %d: %d connections after Close", round, n)
		}
		// After Close, a new connection is refused, not left hanging.
		if _, resp, err := dial(t, srv, "", nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("round %d: connection after Close: err %v", round, err)
		}
	}
}
