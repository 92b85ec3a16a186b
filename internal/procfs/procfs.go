// Package procfs reads what Linux's /proc says of a process and of the
// machine: a process's resident memory and CPU time, the machine's busy
// time, its load average and its cores. It is the one reader of those
// files for `lineage loadtest` and the measurement harnesses under
// benchmarks/.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTick is the unit of /proc's CPU times: USER_HZ, which Linux fixes
// at 100 for user space whatever the kernel's own tick.
const ClockTick = time.Second / 100

// Process is a process's resident set and CPU time so far.
type Process struct {
	RSS int64         // bytes, VmRSS
	CPU time.Duration // user + system
}

// Read reads process pid's /proc status and stat.
func Read(pid int) (Process, error) {
	var p Process
	rss, err := Field(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	if err != nil {
		return p, fmt.Errorf("%w (a zombie?)", err)
	}
	f := strings.Fields(rss)
	if len(f) != 2 || f[1] != "kB" {
		return p, fmt.Errorf("/proc/%d/status: VmRSS %q", pid, rss)
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return p, fmt.Errorf("/proc/%d/status: VmRSS: %w", pid, err)
	}
	p.RSS = kb << 10
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// The fields after the command name, which may hold spaces: the state
	// is the line's 3rd field, utime the 14th and stime the 15th.
	j := bytes.LastIndexByte(stat, ')')
	if j < 0 {
		return p, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	sf := bytes.Fields(stat[j+1:])
	if len(sf) < 13 {
		return p, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(sf))
	}
	for _, v := range sf[11:13] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return p, fmt.Errorf("/proc/%d/stat: CPU times: %w", pid, err)
		}
		p.CPU += time.Duration(n) * ClockTick
	}
	return p, nil
}

// Field is the rest of file's first line that starts with key, trimmed
// ("VmRSS:" of /proc/PID/status, "Max open files" of /proc/PID/limits).
func Field(file, key string) (string, error) {
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

// Machine is the machine's CPU time so far, every core together, from
// /proc/stat's first line: Busy is all but idle and iowait (guest time is
// counted in user already), Total adds those two.
type Machine struct{ Busy, Total time.Duration }

// ReadMachine reads /proc/stat.
func ReadMachine() (Machine, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return Machine{}, errors.New("/proc/stat: no cpu line")
	}
	var m Machine
	for i, v := range f[1:min(len(f), 9)] { // user … steal; guest and guest_nice are in user
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return Machine{}, fmt.Errorf("/proc/stat: %w", err)
		}
		d := time.Duration(n) * ClockTick
		m.Total += d
		if i != 3 && i != 4 { // idle, iowait
			m.Busy += d
		}
	}
	return m, nil
}

// BusyCores is the cores busy on average between m and a later reading,
// all cores full = cores.
func (m Machine) BusyCores(later Machine, cores int) float64 {
	total := later.Total - m.Total
	if total <= 0 {
		return 0
	}
	return float64(later.Busy-m.Busy) / float64(total) * float64(cores)
}

// LoadAvg is /proc/loadavg's first three figures ("?" if unreadable).
func LoadAvg() string {
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

// Cores is the number of cores /proc/stat counts (at least 1).
func Cores() int {
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
