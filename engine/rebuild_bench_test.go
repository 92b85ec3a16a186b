package engine

import (
	"path/filepath"
	"testing"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/eventlog"
)

// BenchmarkRebuild measures how long a restart takes to open a data dir
// holding one million events of the founding roster and rebuild the arena
// from it, every event recomputed and compared with the log.
func BenchmarkRebuild(b *testing.B) {
	const events = 1_000_000
	dir := filepath.Join(writeRun(b, events, 1000), "events")
	b.ResetTimer()
	for range b.N {
		rb := &rebuilder{found: func(g Genesis, s arena.Sink) (*arena.Arena, error) {
			return arena.New(g.Config(), g.Roster, s)
		}}
		l, err := eventlog.Open(dir, eventlog.Options{Visit: rb.visit})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := rb.complete(&history{log: l}); err != nil || n != 0 || rb.ar.NextSeq() < events {
			b.Fatalf("rebuilt to %d, %d events to complete, %v", rb.ar.NextSeq(), n, err)
		}
		rb.ar.Close()
		l.Close()
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
