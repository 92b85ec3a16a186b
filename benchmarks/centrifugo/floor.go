package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// loopfloor's fixed address (hub/internal/wsbench/cmd/loopfloor).
const floorPort = 9077

// runFloor runs loopfloor: one write(2) of size bytes to each of
// o.clients loopback sockets a second, for the window's seconds, read back
// by another process. Its msgs/s are the bursts' bytes counted as
// msgsPerStep messages each; its CPU is the writer's whole life, accepts
// included.
func runFloor(bin string, o options, size int, msgsPerStep float64) (serverReport, error) {
	r := serverReport{Name: "floor", Note: fmt.Sprintf("loopfloor, %d bytes a socket a burst", size)}
	bursts := int(o.window.Seconds())
	n := strconv.Itoa(o.clients)
	fmt.Fprintf(os.Stderr, "# floor: %d sockets, %d bytes, %d bursts\n", o.clients, size, bursts)
	w := exec.Command(bin, "write", "-n", n, "-size", strconv.Itoa(size), "-bursts", strconv.Itoa(bursts))
	w.Stdout, w.Stderr = os.Stderr, os.Stderr
	wp, err := start(w)
	if err != nil {
		return r, err
	}
	defer wp.stop()
	if err := waitTCPListen(floorPort, wp); err != nil {
		return r, err
	}
	r.LoadBefore = loadAvg()
	busy0, total0 := machineBusy()
	t0 := time.Now()
	rd := exec.Command(bin, "read", "-n", n, "-size", strconv.Itoa(size), "-bursts", strconv.Itoa(bursts),
		"-addrs", "10", "-reader", "goroutines")
	rd.Stderr = os.Stderr
	out, err := rd.Output()
	if err != nil {
		return r, fmt.Errorf("loopfloor read: %w", err)
	}
	cpu, err := procCPU(w.Process.Pid) // the writer waits 2 s before it exits
	if err != nil {
		return r, err
	}
	busy1, total1 := machineBusy()
	r.LoadAfter = loadAvg()
	fmt.Fprint(os.Stderr, string(out))
	m := regexp.MustCompile(`p50 (\S+), p99 (\S+), max (\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		return r, fmt.Errorf("loopfloor read: %q", out)
	}
	var q [3]time.Duration
	for i := range q {
		if q[i], err = time.ParseDuration(m[i+1]); err != nil {
			return r, err
		}
	}
	msgs := float64(o.clients*bursts) * msgsPerStep
	r.ServerCPU = cpu
	r.ServerCores = cpu / time.Since(t0).Seconds()
	r.MsgsPerSec = msgs / float64(bursts)
	if cpu > 0 {
		r.MsgsPerCore = msgs / cpu
	}
	if total1 > total0 {
		r.MachineBusy = float64(busy1-busy0) / float64(total1-total0) * float64(ncpu())
	}
	r.Client = &clientReport{Connected: o.clients, Window: float64(bursts),
		P50: ms(q[0]), P99: ms(q[1]), Max: ms(q[2])}
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// waitTCPListen polls /proc/net/tcp until port is listening on
// 127.0.0.1 (dialing it would take one of the writer's accepts).
func waitTCPListen(port int, p *proc) error {
	want := fmt.Sprintf("0100007F:%04X 00000000:0000 0A", port)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		f, err := os.Open("/proc/net/tcp")
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				f.Close()
				return nil
			}
		}
		f.Close()
		select {
		case <-p.done:
			return fmt.Errorf("loopfloor write exited: %v", p.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("port %d: not listening after a minute", port)
}
