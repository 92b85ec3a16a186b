package eventlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFile is the file in a log's directory that the writer holds an
// exclusive flock(2) on for as long as it is open; it holds the writer's
// process id, for the message a second writer gets.
const LockFile = "LOCK"

// ErrLocked is returned by Open when another Log — in this process or
// another — has the directory open for writing. Its message names the
// holder: "data dir is in use by process 1234".
var ErrLocked = errors.New("data dir is in use")

// dirLock is a held writer lock. The kernel releases it when the file is
// closed or the process dies, kill -9 included, so a stale lock file never
// keeps a data dir from being opened.
type dirLock struct{ f *os.File }

// lockDir takes the writer lock of dir without waiting.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w by %s", ErrLocked, holder(path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	return &dirLock{f: f}, nil
}

// holder names the process a lock file says holds it.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
		return "process " + strconv.Itoa(pid)
	}
	return "another process"
}

// release drops the lock. The pid is left in the file: it is read only
// when the lock is held.
func (d *dirLock) release() error {
	if d == nil || d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
