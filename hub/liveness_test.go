package hub

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// These tests run the hub in a testing/synctest bubble, its clients over
// net.Pipe, so that timers run on the bubble's clock: seconds of pings and
// pongs take no real time, and when a client is cut is exact. A pipe has
// no socket buffer; a peer that keeps draining it but stops answering pings
// is a client whose kernel takes the bytes while the application has
// stopped reading them.

// pipePeer is a raw WebSocket client at the far end of a net.Pipe.
type pipePeer struct {
	conn      net.Conn
	wmu       sync.Mutex    // serialises its writes (pongs)
	pongDelay time.Duration // how long each pong waits before it goes
	mute      atomic.Bool   // stop answering pings (the bytes are still drained)
	stop      chan struct{} // closed: stop reading at all
	done      chan struct{} // closed when the reader has returned
	pongs     sync.WaitGroup

	mu       sync.Mutex // guards what follows
	seqs     []uint64   // sequences of live events, in order
	pings    int
	pingsAt  []time.Time // when each ping came, on the bubble's clock
	code     uint16
	reason   string
	closedAt time.Time // when the close frame came (zero: none)
}

// pipeTo connects a pipePeer to h, as ServeHTTP would after the upgrade.
func pipeTo(h *Hub, pongDelay time.Duration) *pipePeer {
	srv, cli := net.Pipe()
	h.conns.Add(1)
	h.live.Add(1)
	p := &pipePeer{conn: cli, pongDelay: pongDelay, stop: make(chan struct{}), done: make(chan struct{})}
	h.attach(srv, V1, 0, false, nil)
	go p.read()
	return p
}

func (p *pipePeer) read() {
	defer close(p.done)
	r := bufio.NewReaderSize(p.conn, 64<<10)
	var hdr [8]byte
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return
		}
		op, n := hdr[0]&0x0f, uint64(hdr[1]&0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(r, hdr[:2]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(r, hdr[:8]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(hdr[:8])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		switch op {
		case opText:
			var m struct {
				Type     string `json:"type"`
				Sequence uint64 `json:"sequence"`
				Snapshot bool   `json:"snapshot"`
			}
			if json.Unmarshal(payload, &m) == nil && m.Type == "" && !m.Snapshot {
				p.mu.Lock()
				p.seqs = append(p.seqs, m.Sequence)
				p.mu.Unlock()
			}
		case opPing:
			if p.mute.Load() {
				continue
			}
			p.mu.Lock()
			p.pings++
			p.pingsAt = append(p.pingsAt, time.Now())
			p.mu.Unlock()
			p.pongs.Go(func() {
				time.Sleep(p.pongDelay) // the bubble's clock: a slow link
				p.send(opPong, payload)
			})
		case opClose:
			p.mu.Lock()
			p.closedAt = time.Now()
			if len(payload) >= 2 {
				p.code, p.reason = binary.BigEndian.Uint16(payload), string(payload[2:])
			}
			p.mu.Unlock()
			return
		}
	}
}

// send writes a masked frame (the mask key is zero: the payload is as is).
func (p *pipePeer) send(op byte, payload []byte) {
	f := append([]byte{finBit | op, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.conn.Write(f)
}

// state returns what the peer has seen.
func (p *pipePeer) state() (seqs []uint64, pings int, code uint16, reason string, closedAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uint64(nil), p.seqs...), p.pings, p.code, p.reason, p.closedAt
}

// gapFree fails t unless seqs is exactly first..last.
func gapFree(t *testing.T, who string, seqs []uint64, first, last uint64) {
	t.Helper()
	if len(seqs) != int(last-first+1) {
		t.Errorf("%s got %d events, want %d (%d to %d)", who, len(seqs), last-first+1, first, last)
	}
	for i, s := range seqs {
		if s != first+uint64(i) {
			t.Errorf("%s: event %d has sequence %d, want %d", who, i, s, first+uint64(i))
			return
		}
	}
}

// A client whose pongs come back 2 s late — a phone, a Wi-Fi stall,
// another continent — is healthy: over a minute of steps every 500 ms it
// gets every event, in order, and is never cut. So is one at 4 s, near
// the default SlowTimeout of 5 s.
func TestLatePongsDoNotCut(t *testing.T) {
	for _, delay := range []time.Duration{2 * time.Second, 4 * time.Second} {
		t.Run(delay.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHub(Config{}, false)
				late := pipeTo(h, delay)
				prompt := pipeTo(h, 0)
				synctest.Wait()
				const steps, per = 120, 35
				for i := range steps {
					h.Publish(events(uint64(i*per+1), per), nil)
					time.Sleep(500 * time.Millisecond)
				}
				time.Sleep(2 * delay) // the last pongs come back
				synctest.Wait()
				for _, p := range []*pipePeer{late, prompt} {
					seqs, pings, code, reason, _ := p.state()
					gapFree(t, "client", seqs, 1, steps*per)
					if code != 0 {
						t.Errorf("closed with %d %q", code, reason)
					}
					if pings < 5 {
						t.Errorf("%d pings over a minute of data, want several", pings)
					}
				}
				if st := h.Stats(); st.SlowDisconnects != 0 || st.Connections != 2 {
					t.Errorf("stats %+v: a client was cut", st)
				}
				closeAll(h, late, prompt)
			})
		})
	}
}

// A client sent a step a second, whose kernel acknowledges the data, is
// pinged in the steps' own writes, about once per ackRide: no ping costs a
// write of its own. Steps go out 100 ms
// past each second and the pings are looked at every 250 ms from 0, so a
// ping that comes at a step's instant rode with it.
func TestPingsRideSteadySteps(t *testing.T) {
	// The peer's kernel has taken every byte, as on loopback.
	outqOf = func(syscall.RawConn) (int, bool) { return 0, true }
	defer func() { outqOf = outq }()
	synctest.Test(t, func(t *testing.T) {
		h := newHub(Config{}, false)
		p := pipeTo(h, 0)
		synctest.Wait()
		time.Sleep(100 * time.Millisecond)
		const steps = 30
		var stepAt []time.Time
		for i := range steps {
			stepAt = append(stepAt, time.Now())
			h.Publish(events(uint64(i*5+1), 5), nil)
			time.Sleep(time.Second)
		}
		synctest.Wait()
		p.mu.Lock()
		at := append([]time.Time(nil), p.pingsAt[1:]...) // the first came with the welcome
		p.mu.Unlock()
		// A ping covers the data before it: the next data starts the wait,
		// and the step after ackRide of it carries the next ping.
		if lo, hi := int(steps*time.Second/(ackRide+2*time.Second)), int(steps*time.Second/ackRide)+1; len(at) < lo || len(at) > hi {
			t.Errorf("%d pings over %d steps a second apart, want %d to %d", len(at), steps, lo, hi)
		}
		for _, a := range at {
			if off := a.Sub(stepAt[0]) % time.Second; off != 0 {
				t.Errorf("a ping came %s after a step, by itself: want every ping in a step's write", off)
			}
		}
		closeAll(h, p)
	})
}

// A client that stops reading — its kernel takes the bytes, it answers no
// ping — is cut as too slow within StallTimeout of the first event it
// leaves unread, with the default configuration, and the client beside it
// gets every event meanwhile and stays.
func TestStoppedClientIsCutWithinStallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(Config{}, false)
		stopped := pipeTo(h, 0)
		healthy := pipeTo(h, 0)
		time.Sleep(time.Second) // the welcomes' pings are answered
		synctest.Wait()
		stopped.mute.Store(true)
		stoppedAt := time.Now()
		seq := uint64(1)
		for stopped.closedAtZero() && time.Since(stoppedAt) < 3*StallTimeout {
			h.Publish(events(seq, 5), nil)
			seq += 5
			time.Sleep(100 * time.Millisecond)
		}
		_, _, code, reason, closedAt := stopped.state()
		if code != 1008 || !strings.Contains(reason, "too slow") || !strings.Contains(reason, "unread for 5s") {
			t.Errorf("closed with %d %q, want 1008 too slow, unread for 5s", code, reason)
		}
		if d := closedAt.Sub(stoppedAt); closedAt.IsZero() || d > StallTimeout {
			t.Errorf("cut %s after its first unread event, want within StallTimeout (%s)", d, StallTimeout)
		}
		synctest.Wait()
		seqs, _, hcode, _, _ := healthy.state()
		gapFree(t, "healthy client", seqs, 1, seq-1)
		if st := h.Stats(); st.SlowDisconnects != 1 || st.Connections != 1 || hcode != 0 {
			t.Errorf("stats %+v, healthy close %d: want exactly the stopped client cut", st, hcode)
		}
		closeAll(h, stopped, healthy)
	})
}

// A client that stops taking bytes at all (its socket full) is cut by the
// write timeout, also within StallTimeout, and nobody waits for it.
func TestBlockedClientIsCutWithinStallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(Config{}, false)
		blocked := pipeTo(h, 0)
		healthy := pipeTo(h, 0)
		time.Sleep(time.Second)
		synctest.Wait()
		close(blocked.stop)
		h.Publish(events(1, 1), nil) // the reader takes at most this one
		synctest.Wait()
		<-blocked.done
		stoppedAt := time.Now()
		seq := uint64(2)
		for h.Stats().SlowDisconnects == 0 && time.Since(stoppedAt) < 3*StallTimeout {
			h.Publish(events(seq, 5), nil)
			seq += 5
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		if d := time.Since(stoppedAt); d > StallTimeout {
			t.Errorf("cut %s after it stopped, want within StallTimeout (%s)", d, StallTimeout)
		}
		seqs, _, _, _, _ := healthy.state()
		gapFree(t, "healthy client", seqs, 1, seq-1)
		if st := h.Stats(); st.SlowDisconnects != 1 || st.Connections != 1 {
			t.Errorf("stats %+v, want exactly the blocked client cut", st)
		}
		closeAll(h, blocked, healthy)
	})
}

// An idle client is pinged every PingInterval and stays while it answers,
// even late; one that stops answering is closed as gone within
// PingInterval + SlowTimeout (+ checkEvery), not counted as slow.
func TestIdleClientsArePingedAndDeadOnesClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(Config{}, false)
		alive := pipeTo(h, 3*time.Second)
		dead := pipeTo(h, 0)
		time.Sleep(time.Second)
		synctest.Wait()
		dead.mute.Store(true)
		mutedAt := time.Now()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		_, pings, code, _, _ := alive.state()
		if code != 0 || pings < 9 {
			t.Errorf("the idle client that answers: close %d, %d pings in 5 min, want none and about 10", code, pings)
		}
		_, _, code, reason, closedAt := dead.state()
		if code != 1001 || !strings.Contains(reason, "no answer to a ping for 5s") {
			t.Errorf("the dead client closed with %d %q, want 1001 no answer to a ping", code, reason)
		}
		if bound := 30*time.Second + DefaultSlowTimeout + checkEvery; closedAt.Sub(mutedAt) > bound {
			t.Errorf("the dead client closed %s after it went silent, want within %s", closedAt.Sub(mutedAt), bound)
		}
		if st := h.Stats(); st.SlowDisconnects != 0 {
			t.Errorf("slow disconnects %d, want 0: an idle client is not slow", st.SlowDisconnects)
		}
		closeAll(h, alive, dead)
	})
}

// finish closes the peer's end and waits for its goroutines.
func (p *pipePeer) finish() {
	p.conn.Close()
	<-p.done
	p.pongs.Wait()
}

// closeAll closes h, then the peers.
func closeAll(h *Hub, peers ...*pipePeer) {
	h.Close(time.Second)
	for _, p := range peers {
		p.finish()
	}
}

func (p *pipePeer) closedAtZero() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closedAt.IsZero()
}
