package loadtest

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// client is one connection. Its counters are touched only by its own
// goroutine (the dial, then the read loop) and read after it has ended;
// closedByUs is set by run before it closes the connection itself, and
// the atomics by the watcher.
type client struct {
	run   *runner
	idx   int
	slow  bool
	conn  *wsConn // nil until the handshake succeeded
	local netip.AddrPort
	done  chan struct{} // closed when the read loop has returned

	dialStart, stoppedAt                       time.Time
	dialErr                                    string
	welcomed, live, stopped, early, closedByUs bool
	welcomeSeq, last                           uint64
	events, winMsgs, winFirst, winLast         uint64
	snapshots, control, unparsed, untimed      uint64
	gaps, missing, dups                        uint64
	closeErr                                   error
	cutAt                                      atomic.Int64 // unix ns the watcher saw the server close; 0 if not
	slowState                                  atomic.Int32 // slowReading, slowStopped, slowCut
}

func (c *client) receive(b []byte, now time.Time) {
	kind, seq, ts := scanMessage(b)
	switch kind {
	case msgWelcome:
		if c.welcomed {
			c.unparsed++
			return
		}
		c.welcomed, c.welcomeSeq, c.last = true, seq, seq
		c.run.connect.record(c.idx, now.Sub(c.dialStart))
		return
	case msgControl:
		c.control++
		return
	case msgUnknown:
		c.unparsed++
		return
	}
	if !c.welcomed {
		c.unparsed++
		return
	}
	// The snapshot after the welcome carries the welcome's sequence.
	if !c.live && seq == c.welcomeSeq {
		c.snapshots++
		return
	}
	c.live = true
	switch {
	case seq <= c.last:
		c.dups++
		return
	case seq > c.last+1:
		c.gaps++
		c.missing += seq - c.last - 1
	}
	c.last = seq
	c.events++
	if c.run.phase.Load() != phaseWindow {
		return
	}
	c.winMsgs++
	if c.winFirst == 0 {
		c.winFirst = seq
	}
	c.winLast = seq
	if ts.IsZero() {
		c.untimed++
		return
	}
	d := now.Sub(ts)
	c.run.lat.record(c.idx, d)
	if c.run.slowPending.Load() > 0 {
		c.run.latSlow.record(c.idx, d)
	}
}
