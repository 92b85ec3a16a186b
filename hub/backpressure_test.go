package hub

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// agentStep makes n agent-state events from seq first on: one step of an
// arena of n agents, each about 450 bytes in v1.
func agentStep(first uint64, n int) []arena.Event {
	out := make([]arena.Event, n)
	for i := range out {
		out[i] = arena.Event{Seq: first + uint64(i), Time: t0, Type: arena.EventAgent, Agent: &arena.AgentState{
			ID: fmt.Sprintf("Balanced-g3-%05d", i), Strategy: "balanced", Generation: 3, Parent: "Balanced",
			Capital: market.MoneyFromFloat(115000.5), Cash: market.MoneyFromFloat(90000.25), Exposure: market.MoneyFromFloat(25000.25),
			Trades: 28, WinRate: 0.62, ROI: 0.15, Trust: 0.8, Tier: "trusted", Status: arena.StatusActive}}
	}
	return out
}

// seqIn returns the "sequence" of a raw message.
func seqIn(t *testing.T, b []byte) uint64 {
	t.Helper()
	i := bytes.LastIndex(b, []byte(`"sequence":`))
	if i < 0 {
		t.Fatalf("no sequence in %s", b)
	}
	rest := b[i+len(`"sequence":`):]
	j := bytes.IndexAny(rest, ",}")
	n, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	if err != nil {
		t.Fatalf("sequence in %s: %v", b, err)
	}
	return n
}

// A step of 4,000 agent states, then a catch-up of ten seconds of events
// at 4,000 agents stepped every second and prices every 500 ms (ten
// steps published back to back, as a restarted engine or an edge after a
// failover sends them), reach every client that reads — both schemas —
// whole and in order: no cut, no gap, nothing dropped. (The bound was
// 1,024 messages: every client was cut on the first step.)
func TestBigStepAndCatchUpReachEveryReader(t *testing.T) {
	logs := newNotifyBuffer()
	h, srv := newTestHub(t, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	clients := []*wsClient{mustDial(t, srv, ""), mustDial(t, srv, "?schema=v2"), mustDial(t, srv, "")}
	for _, c := range clients {
		c.next(t)
	}
	const agents = 4000
	h.Publish(agentStep(1, agents), nil)
	seq := uint64(agents + 1)
	for range 10 {
		step := append(agentStep(seq, agents), events(seq+agents, 10)...) // agents, then two price ticks
		for i := range step {
			step[i].Seq = seq + uint64(i)
		}
		h.Publish(step, nil)
		seq += uint64(len(step))
	}
	last := seq - 1
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for i, c := range clients {
		wg.Go(func() {
			for want := uint64(1); want <= last; want++ {
				select {
				case b := <-c.msgs:
					if got := seqIn(t, b); got != want {
						errs <- fmt.Errorf("client %d got sequence %d, want %d", i, got, want)
						return
					}
				case <-c.closed:
					errs <- fmt.Errorf("client %d closed before sequence %d: %v", i, want, c.err)
					return
				case <-time.After(wait):
					errs <- fmt.Errorf("client %d: sequence %d never came", i, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.Stats(); st.SlowDisconnects != 0 || st.MessagesDropped != 0 || st.Connections != int64(len(clients)) {
		t.Errorf("stats %+v, want no cut and nothing dropped", st)
	}
	if strings.Contains(logs.String(), "slow client cut") {
		t.Errorf("a reading client was cut:\n%s", logs)
	}
}

// A step is queued whole or not at all: a client whose backlog cannot take
// the step beside what already waits is cut, with a reason saying so, and
// gets none of it.
func TestStepThatDoesNotFitCutsWithTheReason(t *testing.T) {
	h, srv := newTestHub(t, Config{MaxBacklogBytes: 64 << 10})
	c := mustDial(t, srv, "")
	c.next(t)
	h.Publish(events(1, 3), nil) // fits
	for want := uint64(1); want <= 3; want++ {
		if got := seqOf(t, c.next(t)); got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
	h.Publish(agentStep(4, 200), nil) // about 90 KB: more than the bound
	select {
	case <-c.closed:
	case <-time.After(wait):
		t.Fatal("not closed")
	}
	if n := len(c.msgs); n != 0 {
		t.Errorf("%d messages of the step that did not fit were sent", n)
	}
	code, reason := c.closeCode(t)
	if code != 1008 || !strings.Contains(reason, "too slow: a step of") || !strings.Contains(reason, "does not fit") {
		t.Errorf("closed with %d %q, want 1008 saying the step does not fit", code, reason)
	}
	if st := h.Stats(); st.SlowDisconnects != 1 {
		t.Errorf("slow disconnects %d, want 1", st.SlowDisconnects)
	}
}
