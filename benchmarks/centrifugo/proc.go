package main

import (
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

// selfCPU is this process's CPU so far, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
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
