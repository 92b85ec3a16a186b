package engine

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/eventlog"
)

// TestRawAfterTheLargestSequence: since+1 must not wrap to the start of
// the log; nothing follows the largest sequence number.
func TestRawAfterTheLargestSequence(t *testing.T) {
	l, err := eventlog.Open(filepath.Join(t.TempDir(), "events"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq := uint64(0); seq < 4; seq++ {
		if _, err := l.Append(seq, time.Unix(int64(seq), 0), "market", []byte(`{"sequence":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	h := newHistory(l)
	for _, tc := range []struct {
		since uint64
		want  int
	}{{0, 3}, {2, 1}, {3, 0}, {math.MaxUint64 - 1, 0}, {math.MaxUint64, 0}} {
		got, err := h.Events(tc.since, 100)
		if err != nil {
			t.Fatalf("Events(%d): %v", tc.since, err)
		}
		if len(got) != tc.want {
			t.Errorf("Events(%d) gave %d events, want %d", tc.since, len(got), tc.want)
		}
	}
}
