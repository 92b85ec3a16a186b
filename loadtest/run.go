package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Phases of a load run: messages count towards the figures only in the
// window, when every connection has been attempted.
const (
	phaseRamp int32 = iota
	phaseWindow
	phaseClosing
)

// Bounds of a load run's end.
const (
	// slowDrain is how long released slow clients get to read their
	// backlog up to the server's close before they are closed too.
	slowDrain = 2 * time.Second
	// closeWait is how long closing connections get to end before
	// they are dropped.
	closeWait = 5 * time.Second
	// watchEvery is how often the kernel is asked which slow clients'
	// connections the server has closed.
	watchEvery = 100 * time.Millisecond
	// sampleEvery is how often the server's RSS is sampled.
	sampleEvery = 250 * time.Millisecond
	// readBuffer is each client's read buffer: a step's burst (tens
	// of events) in one read, not several.
	readBuffer = 16 << 10
)

// runner is one load test in progress. Its client goroutines (one per
// connection: dial, then the read loop) are started by run and waited for
// before run returns, as are the sampler and the watcher.
type runner struct {
	plan     *plan
	progress io.Writer // Config.Progress; nil for none

	phase       atomic.Int32
	release     chan struct{} // closed when slow clients may read again
	slowPending atomic.Int32  // slow clients not reading and not yet cut

	lat, latSlow, connect hist

	mu      sync.Mutex
	clients []*client // every client, dialled or not
	open    []*client // clients whose handshake succeeded
}

func newRunner(p *plan) *runner {
	return &runner{plan: p, progress: p.cfg.Progress, release: make(chan struct{})}
}

// run opens the connections over the ramp, holds them for the window,
// closes them and returns the report. Cancelling ctx ends the ramp or the
// window early; the report covers what was measured.
func (r *runner) run(ctx context.Context) *Report {
	p := r.plan
	var srv *sampler
	if p.cfg.PID > 0 {
		srv = startSampler(p.cfg.PID)
	}
	self := startSampler(os.Getpid())
	kBefore := readKernel()
	dialCtx, stopDials := context.WithCancel(ctx)
	defer stopDials()
	var watch *watcher
	if p.cfg.Slow > 0 {
		watch = startWatcher(r.plan.target)
	}

	// Ramp: client i is dialled ramp·i/clients after the start, the slow
	// ones spread evenly among the others.
	var clients, dialing sync.WaitGroup
	sem := make(chan struct{}, p.cfg.MaxOpen)
	n := p.cfg.Clients
	start := time.Now()
	stopProgress := r.reportProgress(start)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
ramp:
	for i := range n {
		if d := time.Until(start.Add(time.Duration(int64(p.cfg.Ramp) * int64(i) / int64(n)))); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break ramp
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break ramp
		}
		c := &client{run: r, idx: i, done: make(chan struct{})}
		c.slow = p.cfg.Slow > 0 && i*p.cfg.Slow/n != (i+1)*p.cfg.Slow/n
		r.mu.Lock()
		r.clients = append(r.clients, c)
		r.mu.Unlock()
		clients.Add(1)
		dialing.Add(1)
		go func() {
			defer clients.Done()
			defer close(c.done)
			ok := c.dial(dialCtx)
			<-sem
			if ok {
				r.mu.Lock()
				r.open = append(r.open, c)
				r.mu.Unlock()
				if c.slow && watch != nil {
					watch.add(c)
				}
			}
			dialing.Done()
			if ok {
				c.readLoop()
			}
		}()
	}
	dialing.Wait()
	rampEnd := time.Now()

	// Window.
	r.phase.Store(phaseWindow)
	var srvStart, selfStart procSample
	if srv != nil {
		srvStart = srv.now()
	}
	selfStart = self.now()
	busyStart, busyOK := machineCPU()
	if ctx.Err() == nil {
		t := time.NewTimer(p.cfg.Duration)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	r.phase.Store(phaseClosing)
	windowEnd := time.Now()
	var srvEnd procSample
	if srv != nil {
		srvEnd = srv.now()
	}
	selfEnd := self.now()
	busyEnd, busyOK2 := machineCPU()
	kConnected := readKernel()
	stopProgress()

	// Close: the watcher stops (from here on the closes are ours), slow
	// clients read again — the ones the server cut reach its close — and
	// every other connection is closed with 1000.
	if watch != nil {
		watch.stop()
	}
	close(r.release)
	r.mu.Lock()
	open := r.open
	r.mu.Unlock()
	for _, c := range open {
		if !c.slow {
			c.closedByUs = true
			c.conn.close(ws.StatusNormalClosure, "loadtest done")
		}
	}
	deadline := time.NewTimer(slowDrain)
	expired := false
	for _, c := range open {
		if !c.slow {
			continue
		}
		if !expired {
			select {
			case <-c.done:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		select {
		case <-c.done:
		default:
			c.closedByUs = true
			c.conn.close(ws.StatusNormalClosure, "loadtest done")
		}
	}
	deadline.Reset(closeWait)
	all := make(chan struct{})
	go func() {
		clients.Wait()
		close(all)
	}()
	select {
	case <-all:
	case <-deadline.C:
		for _, c := range open {
			c.conn.nc.Close()
		}
		<-all
	}
	deadline.Stop()
	var srvAfter procSample
	if srv != nil {
		srvAfter = srv.now()
		srv.stop()
	}
	self.stop()

	rep := r.report(start, rampEnd, windowEnd)
	if srv != nil {
		rep.Server = serverFigures(p.cfg.PID, srv, srvStart, srvEnd, srvAfter, rep.Connect.Connected, rep.Delivery.PerSecond)
	}
	rep.LoadtestCPUPercent = round2(selfEnd.cpuPercentSince(selfStart))
	rep.Kernel = kernelFigures(kBefore, kConnected)
	rep.Cores = runtime.NumCPU()
	if w := windowEnd.Sub(rampEnd); busyOK && busyOK2 && w > 0 {
		rep.MachineCPUPercent = round2(100 * float64(busyEnd-busyStart) / float64(w))
	}
	return rep
}

// reportProgress rewrites a line a second on Config.Progress until stopped.
func (r *runner) reportProgress(start time.Time) (stop func()) {
	if r.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintln(r.progress)
				return
			case now := <-t.C:
				r.mu.Lock()
				tried, open := len(r.clients), len(r.open)
				r.mu.Unlock()
				phase := map[int32]string{phaseRamp: "ramp", phaseWindow: "window"}[r.phase.Load()]
				fmt.Fprintf(r.progress, "\r%s %5.0fs  %d/%d dialled, %d connected   ", phase, now.Sub(start).Seconds(), tried, r.plan.cfg.Clients, open)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// report adds up the clients' counters. Called when every client
// goroutine has ended.
func (r *runner) report(start, rampEnd, windowEnd time.Time) *Report {
	p := r.plan
	rep := &Report{
		URL: p.cfg.URL, Schema: p.cfg.Schema, Clients: p.cfg.Clients, Slow: p.cfg.Slow,
		SourceAddrs: max(len(p.sources), 1),
		RampSeconds: round2(rampEnd.Sub(start).Seconds()), WindowSeconds: round2(windowEnd.Sub(rampEnd).Seconds()),
		Connect: Connections{Failures: map[string]int{}}, Dropped: map[string]int{},
	}
	var cutAfter []time.Duration
	slow := &SlowClients{Clients: p.cfg.Slow, CloseReasons: map[string]int{}}
	var winFirst, winLast uint64
	healthy := 0
	for _, c := range r.clients {
		rep.Connect.Attempted++
		if c.conn == nil {
			rep.Connect.Failed++
			rep.Connect.Failures[c.dialErr]++
			continue
		}
		rep.Connect.Connected++
		if c.welcomed {
			rep.Connect.Welcomed++
		}
		d := &rep.Delivery
		d.Messages += c.events
		d.WindowMessages += c.winMsgs
		d.Snapshot += c.snapshots
		d.Control += c.control
		d.Unparsed += c.unparsed
		d.Untimed += c.untimed
		o := &rep.Order
		o.Gaps += c.gaps
		o.Missing += c.missing
		o.Duplicates += c.dups
		if c.gaps > 0 {
			o.ClientsWithGaps++
		}
		if c.dups > 0 {
			o.ClientsWithDuplicates++
		}
		if c.winFirst > 0 && (winFirst == 0 || c.winFirst < winFirst) {
			winFirst = c.winFirst
		}
		winLast = max(winLast, c.winLast)
		if !c.slow {
			healthy++
			if c.early {
				rep.Dropped[closeReason(c.closeErr)]++
			}
			continue
		}
		if c.stopped {
			slow.Stopped++
		}
		how := closeReason(c.closeErr)
		byServer := !c.closedByUs
		cut := c.cutAt.Load()
		if byServer || cut != 0 {
			slow.Cut++
			if strings.Contains(how, "too slow") {
				slow.CutTooSlow++
			}
			slow.CloseReasons[how]++
		} else {
			slow.NotCut++
		}
		if cut != 0 && c.stopped {
			cutAfter = append(cutAfter, time.Unix(0, cut).Sub(c.stoppedAt))
		}
	}
	if rep.RampSeconds > 0 {
		rep.Connect.PerSecond = round2(float64(rep.Connect.Connected) / rep.RampSeconds)
	}
	rep.Connect.Handshake = r.connect.summary()
	d := &rep.Delivery
	if winLast >= winFirst && winFirst > 0 {
		d.WindowEvents = winLast - winFirst + 1
	}
	if w := windowEnd.Sub(rampEnd).Seconds(); w > 0 {
		d.PerSecond = round2(float64(d.WindowMessages) / w)
		d.EventsPerSecond = round2(float64(d.WindowEvents) / w)
		if healthy > 0 {
			d.PerClientPerSecond = round2(d.PerSecond / float64(healthy))
		}
	}
	rep.Latency = r.lat.summary()
	if p.cfg.Slow > 0 {
		rep.LatencyWhileSlow = r.latSlow.summary()
		if len(cutAfter) > 0 {
			sort.Slice(cutAfter, func(i, j int) bool { return cutAfter[i] < cutAfter[j] })
			q := func(f float64) float64 { // nearest rank
				return ms(cutAfter[max(0, int(math.Ceil(f*float64(len(cutAfter))))-1)])
			}
			slow.CutAfter = &Latency{Samples: uint64(len(cutAfter)), P50: q(0.5), P95: q(0.95), P99: q(0.99), Max: ms(cutAfter[len(cutAfter)-1])}
		}
		rep.SlowClients = slow
	}
	return rep
}

func ms(d time.Duration) float64 { return round2(float64(d) / float64(time.Millisecond)) }

func round2(f float64) float64 {
	if f >= 100 {
		return float64(int64(f + 0.5))
	}
	return float64(int64(f*100+0.5)) / 100
}
