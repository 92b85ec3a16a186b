package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/loadtest"
)

// target is where clients connect: an edge, or serve with -direct.
type target struct {
	*proc
	ws, metrics string // ws://host:port/ and http://host:port
	clients     int    // its share of the clients
	rssIdle     int64  // before the clients came
}

// loadProc is a running lineage loadtest and its report, once done.
type loadProc struct {
	*proc
	target  *target
	clients int
	stdout  bytes.Buffer
}

// startLineage starts `lineage args...` as name with its ws and metrics
// addresses on ip, and waits for /readyz to answer 200.
func startLineage(b binaries, name, ip string, maxConns int, args ...string) (*target, error) {
	wsPort, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	mPort, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	t := &target{ws: fmt.Sprintf("ws://%s:%d/", ip, wsPort), metrics: fmt.Sprintf("http://%s:%d", ip, mPort)}
	args = append(args, "--ws-addr", fmt.Sprintf("%s:%d", ip, wsPort), "--metrics-addr", fmt.Sprintf("%s:%d", ip, mPort),
		"--max-conns", strconv.Itoa(maxConns+100), "--log-level", "warn")
	if t.proc, err = start(name, exec.Command(b.lineage, args...)); err != nil {
		return nil, err
	}
	if err := waitUntil(t.proc, 2*time.Minute, "ready (/readyz 200)", func() bool { return httpOK(t.metrics + "/readyz") }); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// run runs one measurement: the processes up, the clients connected, the
// window measured, everything stopped.
func run(work string, b binaries, o options) (*report, error) {
	rep := newReport(o, b)
	var cl *cluster
	if !o.direct {
		fmt.Fprintf(os.Stderr, "# nats-server %s: a cluster of %d, R3, file storage, sync always\n", b.natsVersion, natsNodes)
		var err error
		if cl, err = startCluster(work, b.natsServer); err != nil {
			return nil, err
		}
		defer cl.stop()
	}
	data := filepath.Join(work, "data")
	args := []string{"serve", "--data-dir", data}
	if cl != nil {
		args = append(args, "--nats-url", cl.url(), "--nats-replicas", "3")
	}
	args = append(args, strings.Fields(o.lineageArgs)...)
	serveConns := 0
	if o.direct {
		serveConns = o.clients
	}
	srv, err := startLineage(b, "serve", "127.0.0.1", serveConns, args...)
	if err != nil {
		return nil, err
	}
	defer srv.stop()

	var targets []*target
	if o.direct {
		srv.clients = o.clients
		targets = []*target{srv}
	} else {
		// An edge starts from the run's snapshot: wait for the first one.
		if err := waitUntil(srv.proc, time.Minute, "publishing (a snapshot in JetStream)", func() bool {
			s, err := scrapeMetrics(srv.metrics + "/metrics")
			return err == nil && s.value("lineage_nats_snapshots_total") >= 1 && s.value("lineage_nats_published_sequence") >= 1
		}); err != nil {
			return nil, err
		}
		for i := range o.edges {
			share := o.clients / o.edges
			if i < o.clients%o.edges {
				share++
			}
			e, err := startLineage(b, fmt.Sprintf("edge%d", i+1), edgeAddr(i+1).String(), share, "edge", "--nats-url", cl.url())
			if err != nil {
				return nil, err
			}
			defer e.stop()
			e.clients = share
			targets = append(targets, e)
		}
	}
	for _, t := range targets {
		if t.rssIdle, err = procRSS(t.pid()); err != nil {
			return nil, err
		}
	}

	loads, err := startLoads(b, o, targets)
	for _, l := range loads {
		defer l.stop() // a no-op once it has exited
	}
	if err != nil {
		return nil, err
	}
	if note := waitConnected(o, targets, loads); note != "" {
		rep.Notes = append(rep.Notes, note)
		fmt.Fprintln(os.Stderr, "# "+note)
	}
	fmt.Fprintf(os.Stderr, "# clients connected; settling %v, then measuring %v\n", o.settle, o.window)
	time.Sleep(o.settle) // measured quiet time, not synchronisation

	procs := []*proc{srv.proc}
	if cl != nil {
		procs = append(procs, cl.nodes...)
	}
	if !o.direct {
		for _, t := range targets {
			procs = append(procs, t.proc)
		}
	}
	for _, l := range loads {
		procs = append(procs, l.proc)
	}
	before, err := sample(srv, targets, procs)
	if err != nil {
		return nil, err
	}
	time.Sleep(o.window) // the window itself
	after, err := sample(srv, targets, procs)
	if err != nil {
		return nil, err
	}
	for _, l := range loads {
		if l.exited() {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s ended before the window did: its clients were gone for part of it", l.name))
		}
	}

	var reports []*loadtest.Report
	for _, l := range loads {
		if err := l.wait(o.settle + o.window + 2*time.Minute); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		var r loadtest.Report
		if err := json.Unmarshal(l.stdout.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: its report: %w", l.name, err)
		}
		reports = append(reports, &r)
	}
	rep.fill(o, srv, targets, loads, reports, before, after)
	return rep, nil
}

// startLoads starts the loadtests: each target's share of the clients in
// as few processes as hold it (at most maxPerProcess each), every one over
// all the source addresses, for a window long enough to outlast ours: a
// loadtest's window starts when its own ramp ends, ours once the last one
// has, and a loaded machine may spread those ends over the ramp's time.
func startLoads(b binaries, o options, targets []*target) ([]*loadProc, error) {
	dur := o.settle + o.window + o.ramp + 15*time.Second
	var loads []*loadProc
	for _, t := range targets {
		n := (t.clients + maxPerProcess - 1) / maxPerProcess
		for i := range n {
			k := t.clients / n
			if i < t.clients%n {
				k++
			}
			l := &loadProc{target: t, clients: k}
			cmd := exec.Command(b.lineage, "loadtest", "--url", t.ws, "--clients", strconv.Itoa(k),
				"--ramp", o.ramp.String(), "--duration", dur.String(), "--source-addrs", o.srcs, "--json")
			cmd.Stdout = &l.stdout
			p, err := start(fmt.Sprintf("loadtest%d→%s", len(loads)+1, t.name), cmd)
			if err != nil {
				return loads, err
			}
			l.proc = p
			loads = append(loads, l)
		}
	}
	return loads, nil
}

// waitConnected waits until every target holds its share of the clients,
// or, past the ramp, until the count has not grown for 10 s (some
// connections failed: the loadtests' reports say why) or every loadtest
// ended. It returns a note when not every client connected.
func waitConnected(o options, targets []*target, loads []*loadProc) string {
	begin := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last, grew := -1, time.Now()
	for range tick.C {
		total, want, full := 0, 0, true
		for _, t := range targets {
			s, err := scrapeMetrics(t.metrics + "/metrics")
			n := 0
			if err == nil {
				n = int(s.value("lineage_active_connections"))
			}
			total += n
			want += t.clients
			full = full && n >= t.clients
		}
		if full {
			return ""
		}
		if total != last {
			last, grew = total, time.Now()
		}
		running := 0
		for _, l := range loads {
			if !l.exited() {
				running++
			}
		}
		if running == 0 || (time.Since(begin) > o.ramp && time.Since(grew) > 10*time.Second) {
			return fmt.Sprintf("%d of %d clients connected", total, want)
		}
	}
	return ""
}

// snapshot is every process's CPU and memory and every /metrics page at
// one moment.
type snapshot struct {
	at          time.Time
	procs       []*proc
	cpu         map[*proc]float64
	rss         map[*proc]int64
	nofile      map[*proc]int64 // soft limit on open files
	serve       scrape
	targets     map[*target]scrape
	busy, total int64
	load        string
}

// sample reads every process's CPU and memory and every /metrics page.
func sample(srv *target, targets []*target, procs []*proc) (*snapshot, error) {
	s := &snapshot{at: time.Now(), procs: procs, cpu: map[*proc]float64{}, rss: map[*proc]int64{}, nofile: map[*proc]int64{},
		targets: map[*target]scrape{}}
	s.busy, s.total = machineBusy()
	s.load = loadAvg()
	// A process that has ended (a loadtest done early) has no figures:
	// the report shows none for it and says why.
	for _, p := range procs {
		c, err := procCPU(p.pid())
		r, err2 := procRSS(p.pid())
		n, err3 := procNoFile(p.pid())
		if err == nil && err2 == nil && err3 == nil {
			s.cpu[p], s.rss[p], s.nofile[p] = c, r, n
		}
	}
	var (
		errs []error
		err  error
	)
	if s.serve, err = scrapeMetrics(srv.metrics + "/metrics"); err != nil {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	for _, t := range targets {
		if s.targets[t], err = scrapeMetrics(t.metrics + "/metrics"); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
		}
	}
	return s, errors.Join(errs...)
}
