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

// TestRecordsAreTheLogsChain: Records gives the records of [from, until)
// as appended, each with the hash Append returned and the previous
// record's hash, and stops at the durable end.
func TestRecordsAreTheLogsChain(t *testing.T) {
	l, err := eventlog.Open(filepath.Join(t.TempDir(), "events"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var hashes [][32]byte
	for seq := uint64(0); seq < 6; seq++ {
		h, err := l.Append(seq, time.Unix(int64(seq), 0), "market", []byte(`{"n":`+string(rune('0'+seq))+`}`))
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	h := newHistory(l)
	for _, tc := range []struct{ from, until, want uint64 }{{0, 6, 6}, {2, 4, 2}, {5, 100, 1}, {6, 100, 0}} {
		var got uint64
		err := h.Records(tc.from, tc.until, func(r eventlog.Record) error {
			seq := tc.from + got
			if r.Seq != seq || r.Hash != hashes[seq] || string(r.Payload) != `{"n":`+string(rune('0'+seq))+`}` {
				t.Errorf("Records(%d, %d): record %d (hash %x), want %d (hash %x)", tc.from, tc.until, r.Seq, r.Hash[:4], seq, hashes[seq][:4])
			}
			if seq > 0 && r.Prev != hashes[seq-1] {
				t.Errorf("record %d: prev %x, want %x", seq, r.Prev[:4], hashes[seq-1][:4])
			}
			got++
			return nil
		})
		if err != nil || got != tc.want {
			t.Errorf("Records(%d, %d): %d records, %v; want %d", tc.from, tc.until, got, err, tc.want)
		}
	}
}
