package loadtest

import (
	"net/netip"
	"sync"
	"time"
)

// tuple is one TCP connection in the kernel's socket table.
type tuple struct {
	src, dst netip.AddrPort
	state    uint8
}

// Slow-client states: reading, stopped reading and not yet cut, cut.
const (
	slowReading int32 = iota
	slowStopped
	slowCut
)

// watcher notices when the server closes a slow client's connection.
// The client has stopped reading, so it cannot see the close itself (its
// receive window is shut and the server's FIN waits behind the unsent
// data); the server's end of the connection, though, leaves ESTABLISHED
// in the socket table the moment the server closes it. The watcher looks
// every watchEvery; stop ends it and waits for it.
type watcher struct {
	server netip.AddrPort
	done   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	slow map[netip.AddrPort]*client // by the client's local address
}

func startWatcher(server netip.AddrPort) *watcher {
	w := &watcher{server: server, done: make(chan struct{}), slow: map[netip.AddrPort]*client{}}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *watcher) add(c *client) {
	w.mu.Lock()
	w.slow[c.local] = c
	w.mu.Unlock()
}

func (w *watcher) stop() {
	close(w.done)
	w.wg.Wait()
}

func (w *watcher) loop() {
	defer w.wg.Done()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
		}
		tuples, err := closingTCP(w.server.Addr().Is6())
		if err != nil {
			return // no socket table to read: the cut times stay unknown
		}
		now := time.Now()
		w.mu.Lock()
		for _, t := range tuples {
			var local netip.AddrPort
			switch {
			case t.src == w.server:
				local = t.dst // the server's end
			case t.dst == w.server:
				local = t.src // ours, after the server's FIN or RST
			default:
				continue
			}
			if c := w.slow[local]; c != nil {
				delete(w.slow, local)
				c.markCut(now)
			}
		}
		w.mu.Unlock()
	}
}

// markStopped records that c stopped reading.
func (c *client) markStopped() {
	if c.slowState.CompareAndSwap(slowReading, slowStopped) {
		c.run.slowPending.Add(1)
	}
}

// markCut records that the server closed c's connection at t.
func (c *client) markCut(t time.Time) {
	c.cutAt.Store(t.UnixNano())
	if c.slowState.Swap(slowCut) == slowStopped {
		c.run.slowPending.Add(-1)
	}
}
