package eventlog

import (
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultyWriter drives a Log as a server does — batches of records, one Sync
// each — keeping the records the log refused to append them again.
type faultyWriter struct {
	t      *testing.T
	l      *Log
	next   uint64   // the next record to make
	queued []uint64 // made, refused by Append
}

func (w *faultyWriter) batch(n int) error {
	w.t.Helper()
	for range n {
		w.queued = append(w.queued, w.next)
		w.next++
	}
	if err := w.drain(); err != nil {
		return err
	}
	return w.l.Sync()
}

// drain appends the queued records; a write failure keeps the rest queued.
func (w *faultyWriter) drain() error {
	for len(w.queued) > 0 {
		seq := w.queued[0]
		if _, err := w.l.Append(seq, t0.Add(time.Duration(seq)*time.Second), "market", payload(seq)); err != nil {
			if !errors.Is(err, ErrWriteFailed) {
				w.t.Fatalf("Append %d: %v, want an error wrapping ErrWriteFailed", seq, err)
			}
			return err
		}
		w.queued = w.queued[1:]
	}
	return nil
}

// recover retries as a server does: Sync repairs the log, then the queued
// records are appended and synced.
func (w *faultyWriter) recover() error {
	if err := w.l.Sync(); err != nil {
		return err
	}
	if err := w.drain(); err != nil {
		return err
	}
	return w.l.Sync()
}

// Each write the log makes can fail — a write (whole or cut short), an
// fsync, the high-water mark, a rollover's new segment — and the log, kept
// failed while it fails, comes back when it succeeds with every record in
// order: none lost, none repeated, no sequence number skipped or reused.
func TestEveryWriteFailureIsRepaired(t *testing.T) {
	enospc := syscall.ENOSPC
	for _, tc := range []struct{ name, op string }{
		{"write", "write"}, {"write cut short", "write"}, {"fsync", "fsync"}, {"mark", "mark"}, {"segment", "segment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var failing atomic.Bool
			var l *Log
			l = mustOpen(t, dir, Options{SegmentBytes: 2 << 10, Fault: func(op string) error {
				if !failing.Load() || op != tc.op {
					return nil
				}
				if tc.name == "write cut short" && len(l.buf) > 1 {
					// ENOSPC after half the bytes: part of a record on disk.
					if _, err := l.seg.WriteAt(l.buf[:len(l.buf)/2], l.synced); err != nil {
						t.Fatal(err)
					}
				}
				return enospc
			}})
			w := &faultyWriter{t: t, l: l}
			for range 10 {
				if err := w.batch(5); err != nil {
					t.Fatal(err)
				}
			}
			failing.Store(true)
			var err error
			for i := 0; err == nil; i++ {
				if i == 200 {
					t.Fatalf("no %s in 200 batches", tc.op)
				}
				err = w.batch(5)
			}
			durable := l.Durable()
			for range 3 { // still failing: Sync tries again and fails again
				if err := w.recover(); !errors.Is(err, enospc) || !errors.Is(err, ErrWriteFailed) {
					t.Fatalf("retry while failing = %v", err)
				}
				st := l.Stats()
				if !st.Failed || !strings.Contains(st.Failure, "no space left on device") {
					t.Fatalf("stats while failing: failed %v, failure %q", st.Failed, st.Failure)
				}
			}
			if tc.op != "mark" && l.Durable() != durable {
				t.Errorf("durable moved from %d to %d while failing", durable, l.Durable())
			}
			if got := readAll(t, l, 0); uint64(len(got)) != l.Durable() {
				t.Errorf("readers saw %d records while failing, durable %d", len(got), l.Durable())
			}
			failing.Store(false)
			if err := w.recover(); err != nil {
				t.Fatalf("retry once the disk is back: %v", err)
			}
			for range 20 {
				if err := w.batch(5); err != nil {
					t.Fatal(err)
				}
			}
			if st := l.Stats(); st.Failed || st.WriteFailures == 0 || st.Segments < 2 {
				t.Errorf("stats after the repair: %+v", st)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkRecords(t, dir, w.next)
		})
	}
}

// A log closed while failing leaves what was durable, and perhaps whole
// records of the batch that failed (never acknowledged, as after a crash);
// the next Open truncates the part of a record as a torn tail, and appends
// go on from there.
func TestCloseWhileFailingLeavesARepairableLog(t *testing.T) {
	dir := t.TempDir()
	var failing atomic.Bool
	var l *Log
	l, err := Open(dir, Options{Fault: func(op string) error {
		if failing.Load() && op == "write" {
			l.seg.WriteAt(l.buf[:len(l.buf)/2], l.synced) // part of the batch reached the disk
			return syscall.ENOSPC
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := &faultyWriter{t: t, l: l}
	if err := w.batch(10); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	if err := w.batch(10); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("batch while writes fail = %v", err)
	}
	if err := l.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Close while failing = %v, want the failure", err)
	}
	l = mustOpen(t, dir, Options{})
	next, _ := l.Last()
	if next < 10 || next >= 20 {
		t.Fatalf("reopened at %d, want the 10 durable records and at most part of the failed batch", next)
	}
	w = &faultyWriter{t: t, l: l, next: next}
	if err := w.batch(10); err != nil {
		t.Fatal(err)
	}
	l.Close()
	checkRecords(t, dir, next+10)
}

// checkRecords reads dir's log and wants records 0..n-1, each the payload
// it was given, and nothing else.
func checkRecords(t *testing.T, dir string, n uint64) {
	t.Helper()
	if got, err := Verify(dir); err != nil || got != n {
		t.Fatalf("Verify = %d, %v; want %d records", got, err, n)
	}
	r, err := OpenReadOnly(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	it := r.Iter(0)
	defer it.Close()
	for want := uint64(0); ; want++ {
		rec, err := it.Next()
		if errors.Is(err, io.EOF) {
			if want != n {
				t.Fatalf("log ends at %d, want %d records", want, n)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Seq != want || string(rec.Payload) != string(payload(want)) {
			t.Fatalf("record %d: seq %d payload %s", want, rec.Seq, rec.Payload)
		}
	}
}
