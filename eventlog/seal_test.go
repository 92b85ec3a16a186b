package eventlog

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sealedLog writes a log of n records in small segments, closes it and
// returns its dir and segments.
func sealedLog(t *testing.T, n int) (string, []segment) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(dir)
	if err != nil || len(segs) < 4 {
		t.Fatalf("%d segments (%v): the test needs several", len(segs), err)
	}
	return dir, segs
}

// openTrusting opens dir with a recovery point and returns the log, the
// sequence numbers Visit saw and what was logged.
func openTrusting(t *testing.T, dir string, before uint64) (*Log, []uint64, string) {
	t.Helper()
	var logged bytes.Buffer
	var seen []uint64
	l, err := Open(dir, Options{SegmentBytes: 4 << 10, TrustBefore: before, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Visit: func(r Record) error { seen = append(seen, r.Seq); return nil }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, seen, logged.String()
}

// With a recovery point, Open reads record 0 and the segments from the one
// holding it on; the log it opens is the same: its end, its hash, every
// record by Iter, and appends that go on.
func TestTrustBeforeReadsOnlyTheTail(t *testing.T) {
	const n = 600
	dir, segs := sealedLog(t, n)
	full := mustOpen(t, dir, Options{})
	wantNext, wantHash := full.Last()
	want := readAll(t, full, 0)
	full.Close()

	point := segs[len(segs)-2].first + 3
	l, seen, logged := openTrusting(t, dir, point)
	if logged != "" {
		t.Errorf("logged %q", logged)
	}
	if len(seen) == 0 || seen[0] != 0 || seen[1] != segs[len(segs)-2].first || seen[len(seen)-1] != n-1 {
		t.Fatalf("visited %d records from %v: want record 0, then from %d to %d", len(seen), seen[:min(3, len(seen))], segs[len(segs)-2].first, n-1)
	}
	if next, hash := l.Last(); next != wantNext || hash != wantHash {
		t.Fatalf("Last = %d %x, want %d %x", next, hash, wantNext, wantHash)
	}
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("Iter read %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Hash != want[i].Hash || !bytes.Equal(got[i].Payload, want[i].Payload) {
			t.Fatalf("record %d differs", i)
		}
	}
	if r := readAll(t, l, segs[1].first+5); len(r) == 0 || r[0].Seq != segs[1].first+5 {
		t.Fatalf("Iter from inside a trusted segment starts at %v", r[:min(1, len(r))])
	}
	appendN(t, l, 10)
	l.Close()
	if got, err := Verify(dir); err != nil || got != n+10 {
		t.Fatalf("Verify = %d, %v", got, err)
	}
}

// A seal that does not hold — the segment's size, the seal's bytes, the
// link to the next segment — makes Open read every segment, saying so,
// and report what a full scan reports: never a state built on a bad seal.
func TestBrokenSealFallsBackToAFullScan(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, segs []segment)
		corrupt bool // the full scan finds the log itself damaged
	}{
		{"seal bytes", func(t *testing.T, segs []segment) { flip(t, sealPath(segs[1].path), 20) }, false},
		{"segment grown", func(t *testing.T, segs []segment) {
			f, _ := os.OpenFile(segs[1].path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("xx"))
			f.Close()
		}, true},
		{"segment replaced, same size", func(t *testing.T, segs []segment) {
			b, _ := os.ReadFile(segs[2].path)
			os.WriteFile(segs[2].path, bytes.Repeat([]byte{7}, len(b)), 0o600)
		}, true},
		{"seal of another log", func(t *testing.T, segs []segment) {
			s, _ := readSeal(segs[1].path)
			s.last[0] ^= 1
			writeSeal(segs[1].path, s)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, segs := sealedLog(t, 600)
			tt.damage(t, segs)
			var logged bytes.Buffer
			var seen int
			l, err := Open(dir, Options{TrustBefore: segs[len(segs)-1].first, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
				Visit: func(Record) error { seen++; return nil }})
			closeIf(l)
			if !strings.Contains(logged.String(), "seal does not hold") {
				t.Errorf("nothing logged: %q", logged.String())
			}
			if tt.corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil || seen != 600 {
				t.Fatalf("Open = %v after visiting %d records, want every one of 600", err, seen)
			}
			// The full scan rewrote the seal: the next Open trusts it again.
			if _, seen, logged := openTrusting(t, dir, segs[len(segs)-1].first); logged != "" || len(seen) >= 600 {
				t.Errorf("reopened: %d records visited, logged %q", len(seen), logged)
			}
		})
	}
}

// A log written before seals is read whole once; the Open writes the seals,
// and the next Open trusts them.
func TestMissingSealsAreWritten(t *testing.T) {
	dir, segs := sealedLog(t, 600)
	for _, sg := range segs {
		os.Remove(sealPath(sg.path))
	}
	l, seen, _ := openTrusting(t, dir, segs[len(segs)-1].first)
	if len(seen) != 600 {
		t.Fatalf("visited %d records, want all 600", len(seen))
	}
	l.Close()
	for _, sg := range segs[:len(segs)-1] {
		if _, err := readSeal(sg.path); err != nil {
			t.Fatalf("%s: %v", filepath.Base(sg.path), err)
		}
	}
	if _, seen, _ := openTrusting(t, dir, segs[len(segs)-1].first); len(seen) >= 600 {
		t.Fatalf("visited %d records after the seals were written", len(seen))
	}
}

// A flipped byte inside a trusted segment is not read by an Open with a
// recovery point — that is the trade — but Iter reports it when it reads
// there, and Verify, the full audit, always.
func TestTrustedDamageIsCaughtByIterAndVerify(t *testing.T) {
	dir, segs := sealedLog(t, 600)
	flip(t, segs[1].path, 200)
	l, _, _ := openTrusting(t, dir, segs[len(segs)-1].first)
	it := l.Iter(segs[1].first)
	var err error
	for err == nil {
		_, err = it.Next()
	}
	it.Close()
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Iter over the damaged segment ended with %v, want ErrCorrupt", err)
	}
	if _, err := Verify(dir); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Verify = %v, want ErrCorrupt", err)
	}
}
