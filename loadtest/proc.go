package loadtest

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/lineage-arena/lineage/internal/procfs"
)

// procSample is a process's memory and CPU time at one moment, from /proc.
type procSample struct {
	at  time.Time
	rss int64         // bytes
	cpu time.Duration // user + system
}

func readProc(pid int) (procSample, error) {
	at := time.Now()
	p, err := procfs.Read(pid)
	if err != nil {
		return procSample{}, err
	}
	return procSample{at: at, rss: p.RSS, cpu: p.CPU}, nil
}

// cpuPercentSince is the CPU used between two samples, 100 = one core.
func (s procSample) cpuPercentSince(from procSample) float64 {
	wall := s.at.Sub(from.at)
	if wall <= 0 || s.at.IsZero() || from.at.IsZero() {
		return 0
	}
	return 100 * float64(s.cpu-from.cpu) / float64(wall)
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
	m, err := procfs.ReadMachine()
	return m.Busy, err == nil
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
