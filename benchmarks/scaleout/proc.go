package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/lineage-arena/lineage/internal/procfs"
)

// The process and machine figures come from internal/procfs, the reader
// lineage loadtest uses too.

// procCPU is a process's user and system CPU so far, in seconds.
func procCPU(pid int) (float64, error) {
	p, err := procfs.Read(pid)
	return p.CPU.Seconds(), err
}

// procRSS is a process's resident set, in bytes.
func procRSS(pid int) (int64, error) {
	p, err := procfs.Read(pid)
	return p.RSS, err
}

// procNoFile is a process's soft limit on open files, from
// /proc/PID/limits (-1: unlimited). A Go program raises its own soft
// limit to the hard one when it starts, so lineage and nats-server run
// with the hard limit the harness was started under.
func procNoFile(pid int) (int64, error) {
	v, err := procfs.Field(fmt.Sprintf("/proc/%d/limits", pid), "Max open files")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(v)
	if len(f) < 1 {
		return 0, fmt.Errorf("/proc/%d/limits: Max open files %q", pid, v)
	}
	if f[0] == "unlimited" {
		return -1, nil
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// checkNoFile refuses a run whose busiest process could not open its
// connections: every child inherits the harness's hard limit on open
// files (and, being a Go program, raises its soft limit to it).
func checkNoFile(o options) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	per := o.clients
	if !o.direct {
		per = (o.clients + o.edges - 1) / o.edges
	}
	per = min(per, maxPerProcess)
	if need := uint64(per) + 500; lim.Max < need {
		return fmt.Errorf("the hard limit on open files is %d, a process here needs %d: raise it (ulimit -n 20000, as root or in limits.conf)", lim.Max, need)
	}
	return nil
}

// machineBusy is the machine's busy and total CPU time so far, every
// core together, in nanoseconds (zeros if unreadable).
func machineBusy() (busy, total int64) {
	m, _ := procfs.ReadMachine()
	return int64(m.Busy), int64(m.Total)
}

// loadAvg is /proc/loadavg's first three figures.
func loadAvg() string { return procfs.LoadAvg() }

// ncpu is the number of cores /proc/stat counts.
func ncpu() int { return procfs.Cores() }
