//go:build !linux

package hub

import (
	"errors"
	"syscall"
)

// poller is Linux's epoll loop (poll_linux.go); elsewhere every
// connection is read by a goroutine of its own.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("no epoll on this system") }

func (p *poller) add(*client) bool { return false }
func (p *poller) remove(*client)   {}
func (p *poller) close()           {}

// tryWritev writes nothing: the caller waits for the socket instead.
func tryWritev(syscall.RawConn, [][]byte) (int, error) { return 0, nil }

// outq cannot look at the socket: data is pinged after ackDelay.
func outq(syscall.RawConn) (int, bool) { return 0, false }
