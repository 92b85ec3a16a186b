//go:build !linux

package hub

import "net"

// unsent is not available here: stalled clients are cut by the queue
// bound and the write timeout alone.
func unsent(net.Conn) (int, bool) { return 0, false }
