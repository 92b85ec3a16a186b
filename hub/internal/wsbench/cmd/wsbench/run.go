package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is one row of the table.
type config struct {
	Lib    string `json:"lib"`
	Writer string `json:"writer"`
	Label  string `json:"label"`
	Conf   string `json:"config"`
}

var configs = []config{
	{libGWS, writerAsync, "lxzan/gws", "defaults; WriteAsync (window 64)"},
	{libGWS, writerChan, "lxzan/gws", "defaults; writer goroutine + chan"},
	{libGWSTuned, writerAsync, "lxzan/gws", "ReadBufferSize 1 KiB; WriteAsync (window 64)"},
	{libGorilla, writerChan, "gorilla/websocket", "defaults; writer goroutine + chan"},
	{libGorillaTuned, writerChan, "gorilla/websocket", "R/W buffers 1 KiB + WriteBufferPool; writer goroutine + chan"},
	{libCoder, writerChan, "coder/websocket", "defaults; writer goroutine + chan"},
}

// proc is a child process whose stdout lines are read by a goroutine.
type proc struct {
	name  string
	cmd   *exec.Cmd
	lines chan string
	exit  chan error
}

func startProc(name string, args ...string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	// If this process dies, the kernel kills the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 16), exit: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody waits: drop
			}
		}
		close(p.lines)
		p.exit <- cmd.Wait()
	}()
	return p, nil
}

// expect returns the rest of the first stdout line starting with prefix.
func (p *proc) expect(prefix string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return "", fmt.Errorf("%s exited before %q", p.name, prefix)
			}
			if rest, found := strings.CutPrefix(l, prefix); found {
				return rest, nil
			}
		case <-deadline:
			return "", fmt.Errorf("%s: no %q within %v", p.name, prefix, timeout)
		}
	}
}

// stop ends the child: SIGTERM, then SIGKILL after 10 s; it waits for it.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exit:
		return
	case <-time.After(10 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.exit
}

var ctlClient = &http.Client{Timeout: 5 * time.Minute}

func getJSON(url string, v any) error {
	resp, err := ctlClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type idleResult struct {
	Config      config       `json:"config"`
	N           int          `json:"n"`
	Before      memReport    `json:"before"`
	After       memReport    `json:"after"`
	KBefore     kernelSnap   `json:"kernel_before"`
	KAfter      kernelSnap   `json:"kernel_after"`
	PerConn     float64      `json:"rss_bytes_per_conn"`
	HeapPerConn float64      `json:"heap_bytes_per_conn"`
	StackPer    float64      `json:"stack_bytes_per_conn"`
	TCPMemPer   float64      `json:"sockstat_mem_bytes_per_socket"`
	SlabPer     float64      `json:"meminfo_slab_bytes_per_socket"`
	SlabObjPer  float64      `json:"slab_object_bytes_per_socket"`  // every slab cache
	SockObjPer  float64      `json:"socket_cache_bytes_per_socket"` // socketCaches only
	SlabTop     []cacheDelta `json:"slab_top_caches"`
	DialSecs    string       `json:"dial"`
}

type bcastResult struct {
	Config    config          `json:"config"`
	N         int             `json:"n"`
	Server    broadcastReport `json:"server"`
	Delivered int64           `json:"delivered_in_window"`
	Window    time.Duration   `json:"window_ns"`
	Rate      float64         `json:"msgs_per_s"`
	ServerCPU float64         `json:"server_cores"`
	ClientCPU float64         `json:"client_cores"`
	MidTCPMem float64         `json:"mid_tcp_mem_bytes_per_socket"` // sockstat TCP mem halfway through
	Attempts  int             `json:"attempts"`
	Machine   float64         `json:"machine_busy_cores"` // every process and softirq, from /proc/stat
	Other     float64         `json:"other_cores"`        // machine - server - client
	Load1     float64         `json:"loadavg1_before"`
	PerCPUSec float64         `json:"msgs_per_server_cpu_s"`
	Drained   bool            `json:"drained"`
	Total     int64           `json:"total_received"`
}

type runOpts struct {
	n, bn   int
	dur     time.Duration
	size    int
	srcs    string
	maxLife time.Duration
	window  int
}

func serverArgs(c config, writer string, o runOpts) []string {
	return []string{"server", "-lib", c.Lib, "-writer", writer, "-maxlife", o.maxLife.String(),
		"-window", strconv.Itoa(o.window)}
}

func clientArgs(addr string, n int, o runOpts) []string {
	return []string{"client", "-addr", addr, "-n", strconv.Itoa(n), "-srcs", o.srcs, "-maxlife", o.maxLife.String()}
}

// idleRun opens o.n idle connections to one server and measures its RSS and
// the kernel's socket memory before and after.
func idleRun(c config, writer string, o runOpts) (r idleResult, err error) {
	r.Config, r.N = c, o.n
	r.Config.Writer = writer
	srv, addr, err := startServer(c, writer, o)
	if err != nil {
		return r, err
	}
	defer srv.stop()
	base := "http://" + addr
	if err = getJSON(base+"/mem", &r.Before); err != nil {
		return r, err
	}
	if r.KBefore, err = kernelSnapshot(); err != nil {
		return r, err
	}
	cli, _, ready, err := connectClients(addr, o.n, o)
	if err != nil {
		return r, err
	}
	defer cli.stop()
	r.DialSecs = ready
	if err = getJSON(base+"/mem", &r.After); err != nil {
		return r, err
	}
	if r.KAfter, err = kernelSnapshot(); err != nil {
		return r, err
	}
	n := float64(o.n)
	r.PerConn = float64(r.After.RSS-r.Before.RSS) / n
	r.HeapPerConn = (float64(r.After.HeapInuse) - float64(r.Before.HeapInuse)) / n
	r.StackPer = (float64(r.After.StackInuse) - float64(r.Before.StackInuse)) / n
	// Both ends of every connection are sockets on this machine: 2n.
	r.TCPMemPer = float64(r.KAfter.TCP["mem"]-r.KBefore.TCP["mem"]) * float64(r.KAfter.PageSize) / (2 * n)
	r.SlabPer = float64(r.KAfter.SlabBytes-r.KBefore.SlabBytes) / (2 * n)
	objs, sock, top := slabDelta(r.KBefore, r.KAfter, 8)
	r.SlabTop = top
	r.SlabObjPer = float64(objs) / (2 * n)
	r.SockObjPer = float64(sock) / (2 * n)
	r.KBefore.SlabObj, r.KAfter.SlabObj = nil, nil // keep the JSON short
	return r, nil
}

// startServer starts a server process and returns its address.
func startServer(c config, writer string, o runOpts) (*proc, string, error) {
	srv, err := startProc("server", serverArgs(c, writer, o)...)
	if err != nil {
		return nil, "", err
	}
	addr, err := srv.expect("LISTEN ", 30*time.Second)
	if err != nil {
		srv.stop()
		return nil, "", err
	}
	return srv, addr, nil
}

// connectClients starts a client process opening n connections to the
// server at addr, and returns once all n are open and the server has
// registered them: the process, its control address and its READY line.
func connectClients(addr string, n int, o runOpts) (cli *proc, ctl, ready string, err error) {
	cli, err = startProc("client", clientArgs(addr, n, o)...)
	if err != nil {
		return nil, "", "", err
	}
	defer func() {
		if err != nil {
			cli.stop()
		}
	}()
	if ctl, err = cli.expect("CONTROL ", 30*time.Second); err != nil {
		return
	}
	if ready, err = cli.expect("READY ", 3*time.Minute); err != nil {
		return
	}
	if !strings.Contains(ready, "failed=0") {
		err = fmt.Errorf("client: %s", ready)
		return
	}
	var w map[string]int
	if err = getJSON(fmt.Sprintf("http://%s/wait?n=%d&timeout=60s", addr, n), &w); err != nil {
		return
	}
	if w["conns"] != n {
		err = fmt.Errorf("server registered %d of %d connections", w["conns"], n)
	}
	return cli, ctl, ready, err
}

// bcastRun connects o.bn clients and has the server broadcast for o.dur.
func bcastRun(c config, o runOpts) (r bcastResult, err error) {
	r.Config, r.N = c, o.bn
	srv, addr, err := startServer(c, c.Writer, o)
	if err != nil {
		return r, err
	}
	defer srv.stop()
	base := "http://" + addr
	cli, ctl, _, err := connectClients(addr, o.bn, o)
	if err != nil {
		return r, err
	}
	defer cli.stop()
	cbase := "http://" + ctl
	var c0, c1 countReport
	if err = getJSON(cbase+"/count", &c0); err != nil {
		return r, err
	}
	r.Load1 = loadAvg1()
	m0, err := readMachineCPU()
	if err != nil {
		return r, err
	}
	k0, err := sockstatTCP()
	if err != nil {
		return r, err
	}
	mid := make(chan map[string]int64, 1)
	midTimer := time.AfterFunc(o.dur/2, func() {
		k, _ := sockstatTCP()
		mid <- k
	})
	defer midTimer.Stop()
	t0 := time.Now()
	if err = getJSON(fmt.Sprintf("%s/broadcast?dur=%s&size=%d", base, o.dur, o.size), &r.Server); err != nil {
		return r, err
	}
	r.Window = time.Since(t0)
	if err = getJSON(cbase+"/count", &c1); err != nil {
		return r, err
	}
	m1, err := readMachineCPU()
	if err != nil {
		return r, err
	}
	r.Delivered = c1.Received - c0.Received
	r.Rate = float64(r.Delivered) / r.Window.Seconds()
	r.ServerCPU = r.Server.CPU.total().Seconds() / r.Server.Wall.Seconds()
	r.ClientCPU = (c1.CPU.total() - c0.CPU.total()).Seconds() / r.Window.Seconds()
	select {
	case k1 := <-mid:
		r.MidTCPMem = float64(k1["mem"]-k0["mem"]) * float64(os.Getpagesize()) / float64(2*o.bn)
	default:
	}
	r.Machine = busyCores(m0, m1, r.Window)
	r.Other = r.Machine - r.ServerCPU - r.ClientCPU
	r.PerCPUSec = float64(r.Delivered) / r.Server.CPU.total().Seconds()
	var e countReport
	if err = getJSON(cbase+"/ended?timeout=60s", &e); err != nil {
		return r, err
	}
	r.Drained, r.Total = e.Ended, e.Received
	if !r.Drained || r.Total != r.Server.Sent {
		return r, fmt.Errorf("delivery check: server sent %d, clients received %d (all ended: %v)", r.Server.Sent, r.Total, r.Drained)
	}
	return r, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(xs []float64) string {
	if len(xs) < 2 {
		return ""
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return fmt.Sprintf(" (%s–%s)", kib(s[0]), kib(s[len(s)-1]))
}

func medKiB(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	return kib(median(xs))
}

func kib(b float64) string { return fmt.Sprintf("%.1f", b/1024) }

type row struct {
	Config    config    `json:"config"`
	IdleRead  []float64 `json:"idle_reader_only_bytes"`
	IdleWrite []float64 `json:"idle_with_writer_bytes"`
	TCPMem    []float64 `json:"sockstat_mem_bytes_per_socket"`
	Slab      []float64 `json:"socket_cache_bytes_per_socket"`
	SlabAll   []float64 `json:"slab_object_bytes_per_socket"`
	BufMem    []float64 `json:"broadcast_tcp_mem_bytes_per_socket"`
	Rate      []float64 `json:"msgs_per_s"`
	SrvCPU    []float64 `json:"server_cores"`
	CliCPU    []float64 `json:"client_cores"`
	PerCPU    []float64 `json:"msgs_per_server_cpu_s"`
	Other     []float64 `json:"other_cores"`
}

type report struct {
	Opts  map[string]string `json:"opts"`
	Rows  []*row            `json:"rows"`
	Idle  []idleResult      `json:"idle_runs"`
	Bcast []bcastResult     `json:"broadcast_runs"`
}

func runMain(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var o runOpts
	fs.IntVar(&o.n, "n", 10000, "idle connections per memory run")
	fs.IntVar(&o.bn, "bn", 1000, "clients in the broadcast run")
	fs.DurationVar(&o.dur, "dur", 10*time.Second, "broadcast duration")
	fs.IntVar(&o.size, "size", 200, "broadcast JSON message size in bytes")
	fs.StringVar(&o.srcs, "srcs", "127.0.0.2-127.0.0.10", "client source addresses")
	fs.IntVar(&o.window, "window", 64, "broadcast: frames in flight per connection before the broadcaster waits")
	fs.DurationVar(&o.maxLife, "maxlife", 5*time.Minute, "each child process exits by itself after this long")
	reps := fs.Int("reps", 3, "repetitions of every run (the table shows medians)")
	only := fs.String("only", "", "comma list of libs to run (gws,gws-tuned,gorilla,gorilla-tuned,coder); empty: all")
	skipIdle := fs.Bool("skip-idle", false, "skip the idle memory runs")
	skipBcast := fs.Bool("skip-broadcast", false, "skip the broadcast runs")
	maxOther := fs.Float64("max-other", 0.25, "broadcast: redo a run if other processes used more than this many cores during it")
	attempts := fs.Int("attempts", 4, "broadcast: at most this many tries per run (see -max-other)")
	jsonOut := fs.String("json", "", "write every run's raw figures to this file")
	_ = fs.Parse(args)
	if o.n > 19000 || o.bn > 19000 {
		return errors.New("keep each process under the 20,000 open-file limit: n, bn <= 19000")
	}
	lim, err := raiseNoFile(20000)
	if err != nil {
		return err
	}
	if uint64(o.n)+64 > lim {
		return fmt.Errorf("open-file limit is %d; run `ulimit -n 20000` first", lim)
	}

	want := map[string]bool{}
	for _, l := range strings.Split(*only, ",") {
		if l = strings.TrimSpace(l); l != "" {
			want[l] = true
		}
	}
	rep := report{Opts: map[string]string{
		"n": strconv.Itoa(o.n), "bn": strconv.Itoa(o.bn), "dur": o.dur.String(),
		"size": strconv.Itoa(o.size), "srcs": o.srcs, "reps": strconv.Itoa(*reps),
	}}
	// Repetitions go round the libraries (rep 1 of each, then rep 2, ...),
	// so that load from elsewhere on the machine does not land on one
	// library's runs only.
	for _, c := range configs {
		if len(want) == 0 || want[c.Lib] {
			rep.Rows = append(rep.Rows, &row{Config: c})
		}
	}
	readerOnly := map[string][]float64{} // lib -> reader-only bytes/conn, shared by its rows
	for i := 0; i < *reps && !*skipIdle; i++ {
		measured := map[string]bool{}
		for _, rw := range rep.Rows {
			c := rw.Config
			writers := []string{c.Writer}
			if !measured[c.Lib] {
				measured[c.Lib] = true
				writers = []string{writerNone, c.Writer}
			}
			for _, w := range writers {
				r, err := idleRun(c, w, o)
				if err != nil {
					return fmt.Errorf("idle %s/%s: %w", c.Lib, w, err)
				}
				rep.Idle = append(rep.Idle, r)
				if w == writerNone {
					readerOnly[c.Lib] = append(readerOnly[c.Lib], r.PerConn)
				} else {
					rw.IdleWrite = append(rw.IdleWrite, r.PerConn)
				}
				rw.TCPMem = append(rw.TCPMem, r.TCPMemPer)
				rw.Slab = append(rw.Slab, r.SockObjPer)
				rw.SlabAll = append(rw.SlabAll, r.SlabObjPer)
				logf("idle  %-13s %-5s rss %6s KiB/conn  heap %5s  stack %5s  sockstat %5s KiB/sock  slab: socket caches %4s, all %4s KiB/sock",
					c.Lib, w, kib(r.PerConn), kib(r.HeapPerConn), kib(r.StackPer), kib(r.TCPMemPer), kib(r.SockObjPer), kib(r.SlabObjPer))
			}
		}
	}
	for _, rw := range rep.Rows {
		rw.IdleRead = readerOnly[rw.Config.Lib]
	}
	for i := 0; i < *reps && !*skipBcast; i++ {
		for _, rw := range rep.Rows {
			c := rw.Config
			// Other jobs may share these two cores: a run during
			// which other processes took more than -max-other cores is
			// done again, up to -attempts times; the quietest is kept.
			var r bcastResult
			for a := 1; a <= *attempts; a++ {
				ra, err := bcastRun(c, o)
				if err != nil {
					return fmt.Errorf("broadcast %s/%s: %w", c.Lib, c.Writer, err)
				}
				ra.Attempts = a
				if a == 1 || ra.Other < r.Other {
					r = ra
				}
				if ra.Other <= *maxOther {
					break
				}
				logf("bcast %-13s %-5s %9.0f msgs/s with %.2f cores used elsewhere: again", c.Lib, c.Writer, ra.Rate, ra.Other)
			}
			rep.Bcast = append(rep.Bcast, r)
			rw.BufMem = append(rw.BufMem, r.MidTCPMem)
			rw.Rate = append(rw.Rate, r.Rate)
			rw.SrvCPU = append(rw.SrvCPU, r.ServerCPU)
			rw.CliCPU = append(rw.CliCPU, r.ClientCPU)
			rw.PerCPU = append(rw.PerCPU, r.PerCPUSec)
			rw.Other = append(rw.Other, r.Other)
			logf("bcast %-13s %-5s %9.0f msgs/s  server %.2f cores  client %.2f cores  %7.0f msgs/server-CPU-s  other %.2f cores  load %.1f  tcp mem %.1f KiB/sock  (%d sent, %d rounds, all delivered)",
				c.Lib, c.Writer, r.Rate, r.ServerCPU, r.ClientCPU, r.PerCPUSec, r.Other, r.Load1, r.MidTCPMem/1024, r.Server.Sent, r.Server.Rounds)
		}
	}

	fmt.Printf("\nidle: %d connections per server process; broadcast: %d clients, %v, %d-byte JSON text frames; medians of %d runs (min–max)\n\n",
		o.n, o.bn, o.dur, o.size, *reps)
	fmt.Printf("| library | config | KiB/idle conn (reader only) | KiB/idle conn (+ writer) | kernel KiB/socket (slab, socket caches) | sockstat TCP mem KiB/socket idle / broadcasting | delivered msgs/s @ %d | server CPU (cores) | msgs per server CPU-s | client CPU (cores) | other load (cores) |\n", o.bn)
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, rw := range rep.Rows {
		fmt.Printf("| %s | %s | %s%s | %s%s | %s | %s | %s | %s | %s | %s | %s |\n",
			rw.Config.Label, rw.Config.Conf,
			medKiB(rw.IdleRead), spread(rw.IdleRead),
			medKiB(rw.IdleWrite), spread(rw.IdleWrite),
			medKiB(rw.Slab), medKiB(rw.TCPMem)+" / "+medKiB(rw.BufMem),
			rateStr(rw.Rate), cores(rw.SrvCPU), rateStr(rw.PerCPU), cores(rw.CliCPU), cores(rw.Other))
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func rateStr(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 1 {
		return fmt.Sprintf("%.0f", s[0])
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", median(s), s[0], s[len(s)-1])
}

func cores(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", median(xs))
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
}
