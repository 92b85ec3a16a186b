package eventlog

import (
	"io"
	"path/filepath"
	"testing"
	"time"
)

// TestHashIsTheLogsHash: Hash over a record's fields gives the hash the
// log stored for it, so a copy outside the log can be checked.
func TestHashIsTheLogsHash(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "events"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for seq, typ := range []string{"genesis", "market", "trade", "x"} {
		if _, err := l.Append(uint64(seq), time.Unix(1700000000, int64(seq)*7), typ, []byte(`{"n":`+string(rune('0'+seq))+`}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	it := l.Iter(0)
	defer it.Close()
	n := 0
	for {
		r, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := Hash(r.Seq, r.Time, r.Type, r.Prev, r.Payload); got != r.Hash {
			t.Errorf("record %d: Hash %x, the log's %x", r.Seq, got, r.Hash)
		}
		if got := Hash(r.Seq, r.Time, r.Type+"!", r.Prev, r.Payload); got == r.Hash {
			t.Errorf("record %d: another type hashes the same", r.Seq)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("read %d records, want 4", n)
	}
}
