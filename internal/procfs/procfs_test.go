package procfs

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// This process's own figures: a resident set, CPU time that grows with
// work done, a machine that was busy at least that long.
func TestReadSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	m0, err := ReadMachine()
	if err != nil {
		t.Fatal(err)
	}
	p0, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p0.RSS < 1<<20 {
		t.Errorf("RSS %d bytes: want at least a MiB", p0.RSS)
	}
	// Spin until the CPU time moves two ticks (a deadline, not a sleep).
	var p1 Process
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if p1, err = Read(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if p1.CPU >= p0.CPU+2*ClockTick {
			break
		}
	}
	if p1.CPU < p0.CPU+2*ClockTick {
		t.Fatalf("CPU time %v after %v and 10 s of spinning", p1.CPU, p0.CPU)
	}
	m1, err := ReadMachine()
	if err != nil {
		t.Fatal(err)
	}
	if m1.Busy-m0.Busy < p1.CPU-p0.CPU-ClockTick || m1.Total < m1.Busy {
		t.Errorf("machine busy %v (total %v) while this process alone used %v", m1.Busy-m0.Busy, m1.Total-m0.Total, p1.CPU-p0.CPU)
	}
	if c := m0.BusyCores(m1, Cores()); c <= 0 || c > float64(Cores()) {
		t.Errorf("busy cores %v of %d", c, Cores())
	}
	if la := LoadAvg(); len(strings.Fields(la)) != 3 {
		t.Errorf("load average %q", la)
	}
	if _, err := Read(1 << 30); err == nil {
		t.Error("a process that does not exist was read")
	}
}
