package cli

import "golang.org/x/sys/unix"

// totalMemory returns the machine's memory in bytes, 0 when unknown.
func totalMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// openFilesLimit returns the soft limit on open descriptors, 0 when
// unknown or unlimited. (Go raises the soft limit to the hard one at
// start.)
func openFilesLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return rl.Cur
}
