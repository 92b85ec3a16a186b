package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// statusKB reads one "Name:   N kB" line of /proc/self/status or
// /proc/meminfo and returns N*1024.
func statusKB(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+":") {
			continue
		}
		fields := strings.Fields(line[len(name)+1:])
		if len(fields) == 0 {
			break
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, err
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s line", path, name)
}

// selfRSS is this process's resident set size in bytes.
func selfRSS() (int64, error) { return statusKB("/proc/self/status", "VmRSS") }

// sockstatTCP parses the "TCP:" line of /proc/net/sockstat: inuse, orphan,
// tw, alloc and mem (mem is in pages).
func sockstatTCP() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "TCP:") {
			continue
		}
		f := strings.Fields(line[4:])
		m := map[string]int64{}
		for i := 0; i+1 < len(f); i += 2 {
			n, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return nil, err
			}
			m[f[i]] = n
		}
		return m, nil
	}
	return nil, fmt.Errorf("/proc/net/sockstat: no TCP line")
}

// slabObjects reads /proc/slabinfo (root only) as cache name -> bytes of
// its active objects (active_objs * objsize). Unlike meminfo's Slab, this
// does not depend on whether the allocator kept freed slab pages cached.
func slabObjects() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "slabinfo") {
			continue
		}
		active, err1 := strconv.ParseInt(f[1], 10, 64)
		size, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		m[f[0]] += active * size
	}
	return m, nil
}

// kernelSnap is the system-wide kernel memory that sockets use.
type kernelSnap struct {
	SlabObj    map[string]int64 `json:"slab_objects"` // /proc/slabinfo, bytes per cache
	TCP        map[string]int64 `json:"tcp"`          // /proc/net/sockstat TCP line
	SlabBytes  int64            `json:"slab_bytes"`   // /proc/meminfo Slab
	SUnreclaim int64            `json:"sunreclaim"`   // /proc/meminfo SUnreclaim
	PageSize   int64            `json:"page_size"`    // for sockstat mem
	MemAvail   int64            `json:"mem_avail_b"`  // /proc/meminfo MemAvailable
}

func kernelSnapshot() (kernelSnap, error) {
	var k kernelSnap
	var err error
	if k.TCP, err = sockstatTCP(); err != nil {
		return k, err
	}
	if k.SlabBytes, err = statusKB("/proc/meminfo", "Slab"); err != nil {
		return k, err
	}
	if k.SUnreclaim, err = statusKB("/proc/meminfo", "SUnreclaim"); err != nil {
		return k, err
	}
	if k.MemAvail, err = statusKB("/proc/meminfo", "MemAvailable"); err != nil {
		return k, err
	}
	k.PageSize = int64(os.Getpagesize())
	k.SlabObj, _ = slabObjects() // empty when not root
	return k, nil
}

// socketCaches are the slab caches that hold one object per open TCP
// socket on this kernel: the socket (TCP), its inode, its file and
// dentry, its epoll item and wait-queue hook, and security blobs.
var socketCaches = map[string]bool{
	"TCP": true, "sock_inode_cache": true, "filp": true, "dentry": true,
	"eventpoll_epi": true, "eventpoll_pwq": true, "lsm_file_cache": true, "lsm_inode_cache": true,
}

// slabDelta is the change of active slab-object bytes between two
// snapshots: in total, in socketCaches, and the largest changes.
func slabDelta(a, b kernelSnap, top int) (total, sockets int64, largest []cacheDelta) {
	var ds []cacheDelta
	for name, v := range b.SlabObj {
		d := v - a.SlabObj[name]
		total += d
		if socketCaches[name] {
			sockets += d
		}
		ds = append(ds, cacheDelta{name, d})
	}
	for name, v := range a.SlabObj {
		if _, ok := b.SlabObj[name]; !ok {
			total -= v
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Bytes > ds[j].Bytes })
	if len(ds) > top {
		ds = ds[:top]
	}
	return total, sockets, ds
}

type cacheDelta struct {
	Cache string `json:"cache"`
	Bytes int64  `json:"bytes"`
}

// cpuTimes is this process's user and system CPU time so far.
type cpuTimes struct {
	User time.Duration `json:"user_ns"`
	Sys  time.Duration `json:"sys_ns"`
}

func (c cpuTimes) total() time.Duration { return c.User + c.Sys }

func selfCPU() cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	return cpuTimes{
		User: time.Duration(ru.Utime.Nano()),
		Sys:  time.Duration(ru.Stime.Nano()),
	}
}

// raiseNoFile lifts the soft open-file limit to want (at most the hard
// limit); children started afterwards inherit it.
func raiseNoFile(want uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if want > rl.Max {
		want = rl.Max
	}
	if rl.Cur < want {
		rl.Cur = want
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}

// machineCPU is the whole machine's busy and total CPU time so far, from
// the first line of /proc/stat (in USER_HZ ticks, 100 per second here).
type machineCPU struct{ busy, total int64 }

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var m machineCPU
	for i, x := range f[1:] {
		if i >= 8 { // guest time is already in user
			break
		}
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return machineCPU{}, err
		}
		m.total += n
		if i != 3 && i != 4 { // idle, iowait
			m.busy += n
		}
	}
	return m, nil
}

// busyCores is the average number of busy CPUs between a and b.
func busyCores(a, b machineCPU, wall time.Duration) float64 {
	const userHZ = 100
	return float64(b.busy-a.busy) / userHZ / wall.Seconds()
}

// loadAvg1 is the one-minute load average.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	x, _ := strconv.ParseFloat(f[0], 64)
	return x
}
