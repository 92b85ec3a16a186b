package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// procSample is a process's memory and CPU time at one moment, from /proc.
type procSample struct {
	at  time.Time
	rss int64 // bytes
	cpu int64 // user + system clock ticks
}

// clockTick is the unit of /proc/<pid>/stat times: USER_HZ, which Linux
// fixes at 100 for user space whatever the kernel's own tick.
const clockTick = time.Second / 100

func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	i := bytes.Index(status, []byte("\nVmRSS:"))
	if i < 0 {
		return s, errors.New("no VmRSS in its /proc status (a zombie?)")
	}
	f := bytes.Fields(status[i+len("\nVmRSS:"):])
	if len(f) < 2 || string(f[1]) != "kB" {
		return s, errors.New("unreadable VmRSS")
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return s, fmt.Errorf("VmRSS: %w", err)
	}
	s.rss = kb << 10
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which may hold spaces: state is the
	// 3rd field of the line, utime the 14th and stime the 15th.
	j := bytes.LastIndexByte(stat, ')')
	if j < 0 {
		return s, errors.New("unreadable /proc stat")
	}
	f = bytes.Fields(stat[j+1:])
	if len(f) < 13 {
		return s, errors.New("short /proc stat")
	}
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc stat: %w", err)
		}
		s.cpu += n
	}
	return s, nil
}

// cpuPercentSince is the CPU used between two samples, 100 = one core.
func (s procSample) cpuPercentSince(from procSample) float64 {
	wall := s.at.Sub(from.at)
	if wall <= 0 || s.at.IsZero() || from.at.IsZero() {
		return 0
	}
	return 100 * float64(time.Duration(s.cpu-from.cpu)*clockTick) / float64(wall)
}

// sampler samples a process every sampleEvery to find its peak RSS;
// stop ends its goroutine and waits for it.
type sampler struct {
	pid   int
	first procSample
	done  chan struct{}
	wg    sync.WaitGroup

	mu   sync.Mutex
	peak int64
}

func startSampler(pid int) *sampler {
	s := &sampler{pid: pid, done: make(chan struct{})}
	s.first = s.now()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.now()
			}
		}
	}()
	return s
}

// now samples the process and returns the sample; a failed read (the
// process ended) gives a zero sample.
func (s *sampler) now() procSample {
	p, err := readProc(s.pid)
	if err != nil {
		return procSample{}
	}
	s.mu.Lock()
	s.peak = max(s.peak, p.rss)
	s.mu.Unlock()
	return p
}

func (s *sampler) stop() {
	close(s.done)
	s.wg.Wait()
}

func serverFigures(pid int, s *sampler, start, end, after procSample, connected int, perSec float64) *Process {
	s.mu.Lock()
	peak := s.peak
	s.mu.Unlock()
	out := &Process{PID: pid, RSSBefore: s.first.rss, RSSConnected: end.rss, RSSPeak: peak, RSSAfter: after.rss,
		CPUPercent: round2(end.cpuPercentSince(start))}
	if connected > 0 && end.rss > 0 {
		out.BytesPerConn = round2(float64(end.rss-s.first.rss) / float64(connected))
	}
	if out.CPUPercent > 0 {
		out.PerCorePerSec = round2(perSec / (out.CPUPercent / 100))
	}
	return out
}

// machineCPU is the machine's busy CPU time so far, all cores, from
// /proc/stat: everything but idle and iowait; ok is false if unreadable.
func machineCPU() (busy time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, false
	}
	var ticks int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, false
		}
		if i != 3 && i != 4 && i < 8 { // not idle, not iowait, not guest (counted in user)
			ticks += n
		}
	}
	return time.Duration(ticks) * clockTick, true
}

// kernelSample is the machine's TCP socket count and the kernel memory
// that grows with it.
type kernelSample struct {
	ok              bool
	sockets         int64 // TCP and TCP6 "inuse"
	slab            int64 // bytes, /proc/meminfo Slab
	bufferPages     int64 // /proc/net/sockstat TCP "mem", pages
	pageSize        int64
	sockstatPresent bool
}

func readKernel() kernelSample {
	k := kernelSample{pageSize: int64(os.Getpagesize())}
	for _, f := range []string{"/proc/net/sockstat", "/proc/net/sockstat6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range bytes.Lines(b) {
			fields := bytes.Fields(line)
			if len(fields) == 0 || (string(fields[0]) != "TCP:" && string(fields[0]) != "TCP6:") {
				continue
			}
			for i := 1; i+1 < len(fields); i += 2 {
				n, _ := strconv.ParseInt(string(fields[i+1]), 10, 64)
				switch string(fields[i]) {
				case "inuse":
					k.sockets += n
					k.sockstatPresent = true
				case "mem":
					k.bufferPages += n
				}
			}
		}
	}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil || !k.sockstatPresent {
		return k
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("Slab:")); ok {
			f := bytes.Fields(rest)
			if len(f) >= 1 {
				n, err := strconv.ParseInt(string(f[0]), 10, 64)
				k.slab, k.ok = n<<10, err == nil
			}
		}
	}
	return k
}

// kernelFigures compares the machine before the ramp with the machine at
// the window's end. The figures are machine-wide: on loopback they count
// both ends of every connection, and anything else the machine did.
func kernelFigures(before, connected kernelSample) *Kernel {
	if !before.ok || !connected.ok {
		return nil
	}
	k := &Kernel{
		TCPSocketsBefore: before.sockets, TCPSocketsConnected: connected.sockets,
		SlabDelta:    connected.slab - before.slab,
		BuffersDelta: (connected.bufferPages - before.bufferPages) * before.pageSize,
	}
	if n := connected.sockets - before.sockets; n > 0 {
		k.SlabPerSocket = k.SlabDelta / n
	}
	return k
}
