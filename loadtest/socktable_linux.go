package loadtest

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
)

// fileLimit is how many files this process may open.
func fileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}

// TCP states (include/net/tcp_states.h) and the inet_diag request.
const (
	tcpFinWait1  = 4
	tcpFinWait2  = 5
	tcpClose     = 7
	tcpCloseWait = 8
	tcpLastAck   = 9
	tcpClosing   = 11

	// closingStates are the states of a connection one end has closed and
	// that is still in the socket table. TIME_WAIT is left out: it is
	// where loopback connections of earlier runs linger by the thousand.
	closingStates = 1<<tcpFinWait1 | 1<<tcpFinWait2 | 1<<tcpClose | 1<<tcpCloseWait | 1<<tcpLastAck | 1<<tcpClosing

	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	inetDiagReqLen   = 56 // struct inet_diag_req_v2
	inetDiagMsgLen   = 72 // struct inet_diag_msg
)

// closingTCP lists this machine's TCP connections of one family in a
// closing state, as ss does: a dump over NETLINK_INET_DIAG, filtered by
// state in the kernel, so the answer stays small however many connections
// are open.
func closingTCP(v6 bool) ([]tuple, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_INET_DIAG)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	ne := binary.NativeEndian
	req := make([]byte, syscall.NLMSG_HDRLEN+inetDiagReqLen)
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1)
	body := req[syscall.NLMSG_HDRLEN:]
	body[0] = syscall.AF_INET
	if v6 {
		body[0] = syscall.AF_INET6
	}
	body[1] = syscall.IPPROTO_TCP
	ne.PutUint32(body[4:], closingStates)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<16)
	var out []tuple
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return out, nil
			case syscall.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(ne.Uint32(m.Data)); code < 0 {
						return nil, syscall.Errno(-code)
					}
				}
				return nil, errors.New("inet_diag: error reply")
			}
			d := m.Data
			if len(d) < inetDiagMsgLen {
				continue
			}
			t := tuple{state: d[1]}
			sport, dport := binary.BigEndian.Uint16(d[4:]), binary.BigEndian.Uint16(d[6:])
			var src, dst netip.Addr
			if d[0] == syscall.AF_INET6 {
				src, dst = netip.AddrFrom16([16]byte(d[8:24])).Unmap(), netip.AddrFrom16([16]byte(d[24:40])).Unmap()
			} else {
				src, dst = netip.AddrFrom4([4]byte(d[8:12])), netip.AddrFrom4([4]byte(d[24:28]))
			}
			t.src, t.dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
			out = append(out, t)
		}
	}
}
