// Command loopfloor measures the floor under a fan-out burst on this
// machine: one write(2) of -size bytes to each of -n loopback sockets, in
// a tight loop, with no WebSocket, no framing and no application work, and
// the time from the burst's start to each socket's first read of it. Run
// the writer and the reader as two processes (each may open 20,000 files):
//
//	loopfloor write -n 10000 -size 10000 -bursts 15 &
//	loopfloor read -n 10000 -size 10000 -bursts 15 -reader goroutines
//
// The reader reads every socket with a goroutine of its own (as the load
// generator does) or from one epoll loop (-reader epoll).
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const addr = "127.0.0.1:9077"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loopfloor write|read [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 10000, "connections")
	size := fs.Int("size", 1000, "bytes per socket per burst (at least 8)")
	bursts := fs.Int("bursts", 15, "bursts, one a second")
	addrs := fs.Int("addrs", 10, "source addresses, 127.0.0.2 on (reader)")
	reader := fs.String("reader", "goroutines", "goroutines | epoll (reader)")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "write":
		err = write(*n, *size, *bursts)
	case "read":
		err = read(*n, *size, *bursts, *addrs, *reader)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopfloor:", err)
		os.Exit(1)
	}
}

// rawFD detaches a TCP connection's socket from Go's poller: the
// connection is closed, a duplicate of its descriptor kept, non-blocking.
func rawFD(c net.Conn) (int, error) {
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		return -1, err
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return -1, err
	}
	return fd, unix.SetNonblock(fd, true)
}

func write(n, size, bursts int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fds := make([]int, 0, n)
	for len(fds) < n {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		fd, err := rawFD(c)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
	}
	buf := make([]byte, size)
	time.Sleep(time.Second)
	var took []time.Duration
	for range bursts {
		start := time.Now()
		binary.LittleEndian.PutUint64(buf, uint64(start.UnixNano()))
		short := 0
		for _, fd := range fds {
			if m, _ := unix.Write(fd, buf); m != size {
				short++
			}
		}
		took = append(took, time.Since(start))
		if short > 0 {
			fmt.Fprintf(os.Stderr, "%d sockets took less than the burst\n", short)
		}
		time.Sleep(time.Second)
	}
	slices.Sort(took)
	fmt.Printf("write: %d sockets, %d bytes each: a burst written in %v (median of %d), %v per socket\n",
		n, size, took[len(took)/2], len(took), took[len(took)/2]/time.Duration(n))
	time.Sleep(2 * time.Second)
	return nil
}

// socket counts a reader's bytes: the first read of each burst carries
// the burst's start.
type socket struct{ got int }

func (s *socket) read(b []byte, size int, now time.Time, lat *[]time.Duration) {
	if s.got%size == 0 && len(b) >= 8 {
		*lat = append(*lat, now.Sub(time.Unix(0, int64(binary.LittleEndian.Uint64(b)))))
	}
	s.got += len(b)
}

func read(n, size, bursts, addrs int, reader string) error {
	conns := make([]net.Conn, n)
	for i := range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%addrs))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return err
		}
		conns[i] = c
	}
	want := n * bursts
	var lat []time.Duration
	switch reader {
	case "goroutines":
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() {
				var s socket
				var mine []time.Duration
				buf := make([]byte, 16<<10)
				for s.got < size*bursts {
					m, err := c.Read(buf)
					if err != nil {
						break
					}
					s.read(buf[:m], size, time.Now(), &mine)
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
	case "epoll":
		ep, err := unix.EpollCreate1(0)
		if err != nil {
			return err
		}
		socks := make([]socket, n)
		fds := make([]int, n)
		for i, c := range conns {
			if fds[i], err = rawFD(c); err != nil {
				return err
			}
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
			if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fds[i], &ev); err != nil {
				return err
			}
		}
		evs := make([]unix.EpollEvent, 256)
		buf := make([]byte, 64<<10)
		for len(lat) < want {
			k, err := unix.EpollWait(ep, evs, 5000)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || k == 0 {
				break
			}
			now := time.Now()
			for _, e := range evs[:k] {
				if m, _ := unix.Read(fds[e.Fd], buf); m > 0 {
					socks[e.Fd].read(buf[:m], size, now, &lat)
				}
			}
		}
	default:
		return fmt.Errorf("unknown reader %q", reader)
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("read (%s): %d of %d bursts' first reads: p50 %v, p99 %v, max %v\n",
		reader, len(lat), want, q(.5), q(.99), lat[len(lat)-1])
	return nil
}
