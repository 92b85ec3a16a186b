package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times (100 on
// every Linux this runs on).
const clockTicks = 100

// procCPU is a process's user and system CPU so far, in seconds.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: CPU times unreadable", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// procRSS is a process's resident set, in bytes.
func procRSS(pid int) (int64, error) {
	v, err := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("/proc/%d/status: VmRSS %q", pid, v)
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	return kb << 10, err
}

// procNoFile is a process's soft limit on open files, from
// /proc/PID/limits (-1: unlimited). A Go program raises its own soft
// limit to the hard one when it starts, so lineage and nats-server run
// with the hard limit the harness was started under.
func procNoFile(pid int) (int64, error) {
	v, err := procField(fmt.Sprintf("/proc/%d/limits", pid), "Max open files")
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

// procField is the rest of the first line of file that starts with key.
func procField(file, key string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("%s: no %q", file, key)
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

// machineBusy reads /proc/stat's first line: busy and total jiffies of
// every core.
func machineBusy() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// loadAvg is /proc/loadavg's first three figures.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ncpu is the number of cores /proc/stat counts.
func ncpu() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 1
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "cpu") && len(line) > 3 && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return max(n, 1)
}
