package natspub_test

import (
	"sync"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/natspub"
)

// ackLog records OnAck's calls.
type ackLog struct {
	mu    sync.Mutex
	calls [][2]time.Time // recorded, acked
}

func (l *ackLog) onAck(recorded, acked time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, [2]time.Time{recorded, acked})
}

// OnAck is called once per acknowledged batch, in order, with the record
// time of the batch's first event and a time between that and now.
func TestOnAckTimesEachBatch(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	r := newRun(t)
	var log ackLog
	p := mustOpen(t, r, natspub.Config{URL: ns.ClientURL(), OnAck: log.onAck})
	r.stepN(t, 20)
	waitCaughtUp(t, p, r)
	now := time.Now()

	recs := r.records(t)
	r.mu.Lock()
	var want []time.Time // each step's first event's record time
	for _, s := range r.steps {
		want = append(want, recs[s[0]-1].Time)
	}
	r.mu.Unlock()
	log.mu.Lock()
	defer log.mu.Unlock()
	if got := p.Stats().Batches; uint64(len(log.calls)) != got || len(log.calls) != len(want) {
		t.Fatalf("%d OnAck calls, %d batches, %d steps: want one call a batch, one batch a step", len(log.calls), got, len(want))
	}
	for i, c := range log.calls {
		recorded, acked := c[0], c[1]
		if !recorded.Equal(want[i]) {
			t.Errorf("batch %d: recorded %v, want its first event's record time %v", i, recorded, want[i])
		}
		if acked.Before(recorded) || acked.After(now) {
			t.Errorf("batch %d: acked %v, not between its record time %v and now %v", i, acked, recorded, now)
		}
		if i > 0 && acked.Before(log.calls[i-1][1]) {
			t.Errorf("batch %d acked at %v, before batch %d (%v)", i, acked, i-1, log.calls[i-1][1])
		}
	}
}
