package hub

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lxzan/gws"
)

// counter is a client that counts what it reads and says when the count
// reaches a target; it answers pings as every WebSocket client does.
type counter struct {
	gws.BuiltinEventHandler
	got, want, pings *atomic.Int64
	done             chan struct{}
}

func (c counter) OnPing(conn *gws.Conn, p []byte) {
	c.pings.Add(1)
	conn.WritePong(p)
}
func (c counter) OnMessage(_ *gws.Conn, m *gws.Message) {
	m.Close()
	if c.got.Add(1) == c.want.Load() {
		c.done <- struct{}{}
	}
}

// BenchmarkFanOut publishes bursts of 35 events (a tick's market events
// and agent states with 30 agents) to in-process clients on loopback and
// waits for every client to read every event: msgs/s is delivered
// messages, server and clients sharing the machine; pings/kmsg is the
// pings the clients answered per thousand of them (each costs the server a
// write or part of one, and a read).
func BenchmarkFanOut(b *testing.B) {
	const burst = 35
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			h, srv := newTestHub(b, Config{})
			var got, want, pings atomic.Int64
			done := make(chan struct{}, 1)
			want.Store(int64(n)) // the welcomes
			for range n {
				conn, _, err := gws.NewClient(counter{got: &got, want: &want, pings: &pings, done: done},
					&gws.ClientOption{Addr: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"})
				if err != nil {
					b.Fatal(err)
				}
				go conn.ReadLoop()
				b.Cleanup(func() { conn.NetConn().Close() })
			}
			<-done
			seq := uint64(1)
			pings.Store(0)
			b.ResetTimer()
			for range b.N {
				want.Store(got.Load() + int64(n*burst))
				h.Publish(events(seq, burst), nil)
				<-done
				seq += burst
			}
			b.ReportMetric(float64(b.N*n*burst)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(pings.Load())*1000/float64(b.N*n*burst), "pings/kmsg")
		})
	}
}
