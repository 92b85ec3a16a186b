package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// binaries are what the harness runs.
type binaries struct {
	self, lineage, centrifugo, loopfloor string
}

// repoRoot is the Lineage repository, two levels up from this module.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := filepath.Join(wd, "..", "..")
	if _, err := os.Stat(filepath.Join(root, "cmd", "lineage")); err != nil {
		return "", errors.New("run from benchmarks/centrifugo in the Lineage repository")
	}
	return root, nil
}

// buildAll builds lineage and loopfloor from this repository and installs
// Centrifugo from the Go module proxy, all into dir.
func buildAll(dir, centrifugo string, want map[string]bool) (binaries, error) {
	var b binaries
	var err error
	if b.self, err = os.Executable(); err != nil {
		return b, err
	}
	root, err := repoRoot()
	if err != nil {
		return b, err
	}
	run := func(wd string, env []string, args ...string) error {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = wd, os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), env...)
		fmt.Fprintf(os.Stderr, "# (cd %s && go %s)\n", wd, strings.Join(args, " "))
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
		return nil
	}
	b.lineage = filepath.Join(dir, "lineage")
	if err := run(root, nil, "build", "-o", b.lineage, "./cmd/lineage"); err != nil {
		return b, err
	}
	if want["centrifugo"] {
		bin := filepath.Join(dir, "bin")
		if err := run(dir, []string{"GOBIN=" + bin, "GOFLAGS=-mod=mod"}, "install", centrifugo); err != nil {
			return b, err
		}
		b.centrifugo = filepath.Join(bin, "centrifugo")
	}
	if want["floor"] {
		b.loopfloor = filepath.Join(dir, "loopfloor")
		if err := run(filepath.Join(root, "hub", "internal", "wsbench"), nil, "build", "-o", b.loopfloor, "./cmd/loopfloor"); err != nil {
			return b, err
		}
	}
	return b, nil
}

// freePort is a port on 127.0.0.1 nobody listened on a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// proc is a child process the harness stops.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // its exit, once done is closed
}

func start(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM, and SIGKILL after 10 s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitListening polls until addr takes a connection, the process exits,
// or a minute passes.
func waitListening(p *proc, addr string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("server exited before listening: %v", p.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: not listening after a minute", addr)
}

// server is a started server: its process, the clients' address and path.
type server struct {
	*proc
	addr, path string
	apiKey     string
	metrics    string // Lineage's metrics address
}

func startServer(work string, b binaries, o options, name string, idle bool) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	switch name {
	case "lineage":
		mport, err := freePort()
		if err != nil {
			return nil, err
		}
		data, err := os.MkdirTemp(work, "data-")
		if err != nil {
			return nil, err
		}
		args := []string{"serve", "--data-dir", data, "--ws-addr", addr,
			"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", mport),
			"--max-conns", strconv.Itoa(o.clients + 100), "--log-level", "warn"}
		args = append(args, strings.Fields(o.lineageArgs)...)
		if idle {
			args = append(args, "--tick-interval", "1h", "--agent-interval", "1h")
		} else if o.profile != "" {
			args = append(args, "--pprof")
		}
		cmd := exec.Command(b.lineage, args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		p, err := start(cmd)
		if err != nil {
			return nil, err
		}
		return &server{proc: p, addr: addr, path: "/", metrics: fmt.Sprintf("127.0.0.1:%d", mport)}, waitListening(p, addr)
	case "floor-ws":
		cmd := exec.Command(b.self, "floorws", "-addr", addr, "-msgs", strconv.Itoa(o.floorMsgs), "-bytes", strconv.Itoa(o.floorBytes))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		p, err := start(cmd)
		if err != nil {
			return nil, err
		}
		return &server{proc: p, addr: addr, path: "/"}, waitListening(p, addr)
	case "centrifugo":
		var k [24]byte
		_, _ = rand.Read(k[:])
		key := hex.EncodeToString(k[:])
		cfg := map[string]any{
			"http_server": map[string]any{"address": "127.0.0.1", "port": port},
			"log":         map[string]any{"level": "warn"},
			"usage_stats": map[string]any{"disabled": true},
			"client":      map[string]any{"allow_anonymous_connect_without_token": true},
			"channel": map[string]any{"without_namespace": map[string]any{
				"allow_subscribe_for_client": true, "allow_subscribe_for_anonymous": true}},
		}
		js, _ := json.Marshal(cfg)
		path := filepath.Join(work, "centrifugo.json")
		if err := os.WriteFile(path, js, 0o600); err != nil {
			return nil, err
		}
		cmd := exec.Command(b.centrifugo, "--config", path)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "CENTRIFUGO_HTTP_API_KEY="+key) // not on the command line, not logged
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		p, err := start(cmd)
		if err != nil {
			return nil, err
		}
		return &server{proc: p, addr: addr, path: "/connection/websocket", apiKey: key}, waitListening(p, addr)
	}
	return nil, fmt.Errorf("unknown server %q", name)
}

// clients is a running client process.
type clients struct {
	*proc
	in        io.WriteCloser
	out       *bufio.Scanner
	connected int
}

func startClients(self string, o options, proto string, s *server) (*clients, error) {
	if proto == "floor-ws" {
		proto = "lineage" // the same messages, read the same way
	}
	cmd := exec.Command(self, "clients", "-proto", proto, "-addr", s.addr, "-path", s.path,
		"-n", strconv.Itoa(o.clients), "-srcs", o.srcs)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := start(cmd)
	if err != nil {
		return nil, err
	}
	c := &clients{proc: p, in: in, out: bufio.NewScanner(out)}
	c.out.Buffer(make([]byte, 1<<20), 256<<20)
	if !c.out.Scan() {
		c.stop()
		return nil, errors.New("client process ended before READY")
	}
	line := c.out.Text()
	var failed int
	if _, err := fmt.Sscanf(line, "READY connected=%d failed=%d", &c.connected, &failed); err != nil {
		c.stop()
		return nil, fmt.Errorf("client process: %q", line)
	}
	fmt.Fprintf(os.Stderr, "# %s: %s\n", proto, line)
	return c, nil
}

func (c *clients) send(line string) error {
	_, err := io.WriteString(c.in, line+"\n")
	return err
}

// result reads the client process's report after STOP.
func (c *clients) result() (*clientReport, error) {
	if !c.out.Scan() {
		return nil, errors.New("client process ended without a report")
	}
	var r clientReport
	if err := json.Unmarshal(c.out.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("client report: %w", err)
	}
	<-c.done
	return &r, nil
}

// runServer measures one server: memory per idle connection in a run
// with no traffic, then a load run of o.window. Centrifugo is sent the
// trace by the publisher.
func runServer(work string, b binaries, o options, name string, trace []traceEvent) (serverReport, []traceEvent, error) {
	r := serverReport{Name: name}
	settle := func() { time.Sleep(o.settle) } // measured quiet time, not synchronisation
	// A floor has no idle state worth a figure.
	if name != "floor-ws" {
		if err := idleRun(work, b, o, name, &r, settle); err != nil {
			return r, nil, err
		}
	}

	fmt.Fprintf(os.Stderr, "# %s: load run, %d clients, %v\n", name, o.clients, o.window)
	s, err := startServer(work, b, o, name, false)
	if err != nil {
		return r, nil, err
	}
	defer s.stop()
	cl, err := startClients(b.self, o, name, s)
	if err != nil {
		return r, nil, err
	}
	defer cl.stop()
	settle()
	pid := s.cmd.Process.Pid
	r.LoadBefore = loadAvg()
	busy0, total0 := machineBusy()
	cpu0, err := procCPU(pid)
	if err != nil {
		return r, nil, err
	}
	t0 := time.Now()
	if err := cl.send("START"); err != nil {
		return r, nil, err
	}
	profc := make(chan profileResult, 1)
	if name == "lineage" && o.profile != "" {
		go func() { profc <- fetchProfile(s.metrics, o, name) }()
	} else {
		profc <- profileResult{}
	}
	pubErr := make(chan error, 1)
	if name == "centrifugo" {
		go func() { pubErr <- publish(s, trace, t0, o.window) }()
	} else {
		pubErr <- nil
	}
	time.Sleep(o.window) // the window itself
	cpu1, err := procCPU(pid)
	if err != nil {
		return r, nil, err
	}
	busy1, total1 := machineBusy()
	win := time.Since(t0).Seconds()
	if err := cl.send("STOP"); err != nil {
		return r, nil, err
	}
	cr, err := cl.result()
	if err != nil {
		return r, nil, err
	}
	if err := <-pubErr; err != nil {
		return r, nil, fmt.Errorf("publisher: %w", err)
	}
	if pr := <-profc; pr.err != nil {
		return r, nil, fmt.Errorf("profile: %w", pr.err)
	} else {
		r.Profile = pr.rep
	}
	r.LoadAfter = loadAvg()
	r.ServerCPU = cpu1 - cpu0
	r.ServerCores = r.ServerCPU / win
	r.MsgsPerSec = float64(cr.Messages) / cr.Window
	if r.ServerCPU > 0 {
		r.MsgsPerCore = float64(cr.Messages) / r.ServerCPU
	}
	if total1 > total0 {
		r.MachineBusy = float64(busy1-busy0) / float64(total1-total0) * float64(ncpu())
	}
	tr := cr.Trace
	cr.Trace = nil
	r.Client = cr
	return r, tr, nil
}

// idleRun measures memory per idle connection: the server alone, then
// with o.clients connections and no traffic.
func idleRun(work string, b binaries, o options, name string, r *serverReport, settle func()) error {
	fmt.Fprintf(os.Stderr, "# %s: idle run, %d clients\n", name, o.clients)
	s, err := startServer(work, b, o, name, true)
	if err != nil {
		return err
	}
	defer s.stop()
	settle()
	if r.IdleRSSBefore, err = procRSS(s.cmd.Process.Pid); err != nil {
		return err
	}
	cl, err := startClients(b.self, o, name, s)
	if err != nil {
		return err
	}
	defer cl.stop()
	settle()
	if r.IdleRSSAfter, err = procRSS(s.cmd.Process.Pid); err != nil {
		return err
	}
	if cl.connected > 0 {
		r.BytesPerConn = float64(r.IdleRSSAfter-r.IdleRSSBefore) / float64(cl.connected)
	}
	return nil
}
