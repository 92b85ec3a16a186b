package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller reads every plain TCP connection of a hub from one goroutine
// waiting on an epoll instance, so an idle connection costs no goroutine
// (a parked read loop keeps a stack of 4 KiB or more). It reads a socket
// only when epoll says there is something to read, into one buffer shared
// by all, and hands the bytes to the connection's wsframe.Reader.
//
// A connection is registered under a slot of the table; the epoll event
// carries the slot and the slot's generation, so an event still in hand
// when its connection has gone and the slot was reused is recognised and
// skipped. The socket stays in Go's own poller too (the hub's writes wait
// there): epoll allows one socket in several instances.
type poller struct {
	epfd   int
	wakefd int // an eventfd: written to stop the loop
	done   chan struct{}

	mu     sync.Mutex
	slots  []pollSlot
	free   []int32
	closed bool
}

type pollSlot struct {
	c   *client
	gen int32
}

// pollBuffer is the buffer every read goes into. One read takes what a
// socket holds up to this, and a frame cut at its end waits in its
// client's wsframe.Reader.
const pollBuffer = 64 << 10

// newPoller starts a poller; nil with an error when the system has none.
func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{epfd: epfd, wakefd: wakefd, done: make(chan struct{})}
	go pprof.Do(context.Background(), pprof.Labels("hub", "read"), func(context.Context) { p.loop() })
	return p, nil
}

// add starts reading c's connection; it reports false (and c must be
// read otherwise) when it cannot be polled: not TCP (c.rc nil), or the
// poller is closed.
func (p *poller) add(c *client) bool {
	if p == nil || c.rc == nil {
		return false
	}
	fd := -1
	if c.rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	var slot int32
	if n := len(p.free); n > 0 {
		slot, p.free = p.free[n-1], p.free[:n-1]
	} else {
		slot = int32(len(p.slots))
		p.slots = append(p.slots, pollSlot{})
	}
	s := &p.slots[slot]
	s.c = c
	s.gen++
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: slot, Pad: s.gen}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		s.c = nil
		p.free = append(p.free, slot)
		return false
	}
	c.fd, c.slot, c.polled = fd, slot, true
	return true
}

// remove stops reading c. The socket must still be open.
func (p *poller) remove(c *client) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !c.polled || p.slots[c.slot].c != c {
		return
	}
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	p.slots[c.slot].c = nil
	p.free = append(p.free, c.slot)
}

// lookup returns the client an event is for, nil if it has gone.
func (p *poller) lookup(ev *unix.EpollEvent) *client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Fd < 0 || int(ev.Fd) >= len(p.slots) || p.slots[ev.Fd].gen != ev.Pad {
		return nil
	}
	return p.slots[ev.Fd].c
}

// close stops the loop and waits for it. Connections still registered are
// not touched.
func (p *poller) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	var one [8]byte
	one[0] = 1 // an eventfd takes a native-endian uint64; 1 is nonzero either way
	unix.Write(p.wakefd, one[:])
	<-p.done
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}

func (p *poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, pollBuffer)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			panic(fmt.Sprintf("hub: epoll_wait: %v", err)) // EBADF, EFAULT, EINVAL: a bug
		}
		for i := range events[:n] {
			if events[i].Fd == -1 {
				return
			}
			if c := p.lookup(&events[i]); c != nil {
				p.read(c, buf)
			}
		}
	}
}

// read takes what c's socket holds, without waiting.
func (p *poller) read(c *client, buf []byte) {
	var n int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), buf)
		return true
	})
	switch {
	case err != nil: // closed meanwhile
		c.end()
	case rerr == unix.EAGAIN || rerr == unix.EINTR:
	case rerr != nil || n == 0: // a reset, or the client's end is closed
		c.end()
	default:
		c.received(buf[:n])
	}
}

// tryWritev writes as much of frames as c's socket takes now, without
// waiting, and returns how many bytes that was. rc nil (TLS), or more
// frames than one writev takes, write nothing: the caller waits instead.
func tryWritev(rc syscall.RawConn, frames [][]byte) (int, error) {
	if rc == nil || len(frames) > maxIovecs {
		return 0, nil
	}
	var n int
	var werr error
	tried := false
	if err := rc.Write(func(fd uintptr) bool {
		n, werr = unix.Writev(int(fd), frames)
		tried = true
		return true
	}); err != nil {
		if !tried && errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil // the deadline of an earlier write; the caller sets its own
		}
		return 0, err
	}
	if werr == unix.EAGAIN || werr == unix.EINTR {
		return 0, nil
	}
	return max(n, 0), werr
}

// maxIovecs is how many buffers one writev(2) takes (IOV_MAX).
const maxIovecs = 1024

// outq returns how many bytes sent on rc its peer has not acknowledged
// (SIOCOUTQ); ok is false when the socket cannot say (rc nil: TLS).
func outq(rc syscall.RawConn) (n int, ok bool) {
	if rc == nil {
		return 0, false
	}
	var err error
	if rc.Control(func(fd uintptr) { n, err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }) != nil || err != nil {
		return 0, false
	}
	return n, true
}
