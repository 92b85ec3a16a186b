package eventlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func mustOpen(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func payload(seq uint64) []byte {
	return fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, seq, strings.Repeat("x", int(seq%50)))
}

// appendN appends records next..next+n-1 and syncs.
func appendN(t testing.TB, l *Log, n int) {
	t.Helper()
	next, _ := l.Last()
	for i := range uint64(n) {
		seq := next + i
		if _, err := l.Append(seq, t0.Add(time.Duration(seq)*time.Second), "market", payload(seq)); err != nil {
			t.Fatalf("Append %d: %v", seq, err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// readAll returns every durable record from `from` on.
func readAll(t testing.TB, l *Log, from uint64) []Record {
	t.Helper()
	it := l.Iter(from)
	defer it.Close()
	var out []Record
	for {
		r, err := it.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Iter: %v", err)
		}
		r.Payload = bytes.Clone(r.Payload)
		out = append(out, r)
	}
}

func TestAppendReopenIterate(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentBytes: 4096})
	appendN(t, l, 500)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Options{SegmentBytes: 4096})
	next, last := l.Last()
	if next != 500 || l.Durable() != 500 {
		t.Fatalf("reopened: next %d durable %d, want 500", next, l.Durable())
	}
	segs, _ := listSegments(dir)
	if len(segs) < 5 {
		t.Errorf("%d segments of 4 KiB for 500 records; rotation did not happen", len(segs))
	}
	appendN(t, l, 10)
	recs := readAll(t, l, 0)
	if len(recs) != 510 {
		t.Fatalf("read %d records, want 510", len(recs))
	}
	for i, r := range recs {
		if r.Seq != uint64(i) || r.Type != "market" || !bytes.Equal(r.Payload, payload(r.Seq)) || !r.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("record %d: %+v", i, r)
		}
		if i > 0 && r.Prev != recs[i-1].Hash {
			t.Fatalf("record %d does not chain to %d", i, i-1)
		}
	}
	if recs[499].Hash != last {
		t.Errorf("Last() hash after reopen is not record 499's")
	}
	for _, from := range []uint64{0, 1, 137, 499, 509} {
		got := readAll(t, l, from)
		if len(got) != 510-int(from) || got[0].Seq != from {
			t.Errorf("Iter(%d): %d records starting at %d", from, len(got), got[0].Seq)
		}
	}
	if got := readAll(t, l, 510); len(got) != 0 {
		t.Errorf("Iter(510) gave %d records", len(got))
	}
	if n, err := Verify(dir); err != nil || n != 510 {
		t.Errorf("Verify = %d, %v", n, err)
	}
}

func TestAppendRejectsOutOfOrderAndOversized(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	if _, err := l.Append(1, t0, "market", nil); err == nil {
		t.Error("appended seq 1 to an empty log")
	}
	if _, err := l.Append(0, t0, "market", make([]byte, MaxPayload+1)); err == nil {
		t.Error("appended an oversized payload")
	}
	if _, err := l.Append(0, t0, "", nil); err == nil {
		t.Error("appended a record without a type")
	}
	if _, err := l.Append(0, t0, "genesis", []byte("{}")); err != nil {
		t.Errorf("a good append after rejected ones: %v", err)
	}
}

// Only what Sync acknowledged counts: Iter never serves the rest.
func TestIterStopsAtDurable(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	appendN(t, l, 5)
	if _, err := l.Append(5, t0, "market", payload(5)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, l, 0); len(got) != 5 {
		t.Errorf("read %d records before Sync, want the 5 durable ones", len(got))
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments: %v", err)
	}
	return segs[len(segs)-1].path
}

func TestTornTailIsRepaired(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		keep   int // records left
	}{
		{"truncated mid-record", func(b []byte) []byte { return b[:len(b)-17] }, 99},
		{"truncated mid-header", func(b []byte) []byte { return b[:len(b)-lastFrameLen(b)+3] }, 99},
		{"garbage appended", func(b []byte) []byte { return append(b, []byte("\x00\x00\x01\x00garbage garbage garbage")...) }, 100},
		{"zeros appended", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, 100},
		{"last record garbled", func(b []byte) []byte { b[len(b)-40] ^= 0xff; return b }, 99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, Options{})
			appendN(t, l, 100)
			l.Close()
			// The damaged record was written but its commit never returned:
			// the high-water mark stops before it.
			setHead(t, dir, uint64(min(tt.keep, 100)))
			path := lastSegment(t, dir)
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, tt.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "torn tail") {
				t.Errorf("Verify = %v, want a torn tail reported", err)
			}
			var logs bytes.Buffer
			l = mustOpen(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if next, _ := l.Last(); next != uint64(tt.keep) {
				t.Errorf("after repair next %d, want %d", next, tt.keep)
			}
			if !strings.Contains(logs.String(), "torn tail repaired") {
				t.Errorf("repair not logged: %q", logs.String())
			}
			appendN(t, l, 3)
			l.Close()
			if n, err := Verify(dir); err != nil || n != uint64(tt.keep+3) {
				t.Errorf("after repair and appends: Verify = %d, %v", n, err)
			}
		})
	}
}

// setHead rewrites dir's high-water mark to say that records [0, committed)
// were committed, as a crash before the last commit returned leaves it.
func setHead(t *testing.T, dir string, committed uint64) {
	t.Helper()
	var h head
	h.committed = committed
	if err := Walk(dir, func(r Record) error {
		if r.Seq == committed-1 {
			h.last = r.Hash
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, HeadFile), h.encode(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lastFrameLen finds the length of the last frame by walking the frames.
func lastFrameLen(b []byte) int {
	off, last := 0, 0
	for off+frameHeader <= len(b) {
		n := frameHeader + int(uint32(b[off])<<24|uint32(b[off+1])<<16|uint32(b[off+2])<<8|uint32(b[off+3]))
		last, off = n, off+n
	}
	return last
}

func TestBrokenMiddleIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"flipped byte in a record body", func(t *testing.T, dir string) {
			flip(t, lastSegment(t, dir), 3000)
		}, "after record"},
		{"record removed", func(t *testing.T, dir string) {
			path := lastSegment(t, dir)
			b, _ := os.ReadFile(path)
			n := lastFrameLen(b[:frameAt(b, 11)]) // the frame of record 10
			start := frameAt(b, 10)
			os.WriteFile(path, append(b[:start:start], b[start+n:]...), 0o600)
		}, "record 11 where 10 was expected"},
		{"hash recomputed but chain broken", func(t *testing.T, dir string) {
			// Re-encode record 20 with a changed payload and a valid CRC:
			// the chain from record 21 no longer holds.
			path := lastSegment(t, dir)
			b, _ := os.ReadFile(path)
			start, end := frameAt(b, 20), frameAt(b, 21)
			rec, err := decodeBody(b[start+frameHeader : end])
			if err != nil {
				t.Fatal(err)
			}
			rec.Payload = []byte(`{"n":20,"forged":true}`)
			forged, _ := rec.encode(nil)
			os.WriteFile(path, append(append(b[:start:start], forged...), b[end:]...), 0o600)
		}, "does not point at record 20"},
		{"segment deleted", func(t *testing.T, dir string) {
			segs, _ := listSegments(dir)
			os.Remove(segs[1].path)
		}, "where"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			seg := int64(DefaultSegmentBytes)
			if tt.name == "segment deleted" {
				seg = 2048
			}
			l := mustOpen(t, dir, Options{SegmentBytes: seg})
			appendN(t, l, 100)
			l.Close()
			tt.damage(t, dir)
			if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want ErrCorrupt naming %q", err, tt.want)
			}
			if _, err := Verify(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v, want ErrCorrupt naming %q", err, tt.want)
			}
		})
	}
}

// frameAt returns the offset of the frame of record seq in a segment that
// starts at record 0.
func frameAt(b []byte, seq int) int {
	off := 0
	for range seq {
		off += frameHeader + int(uint32(b[off])<<24|uint32(b[off+1])<<16|uint32(b[off+2])<<8|uint32(b[off+3]))
	}
	return off
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x40
	f.WriteAt(b, off)
}

// A segment that goes away under the log (its descriptor closed) fails a
// Sync; the log refuses appends, and the next Sync reopens the segment and
// writes again what was not durable.
func TestWriteFailureIsRepairedBySync(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	appendN(t, l, 10)
	l.seg.Close() // the descriptor goes away under the log
	if _, err := l.Append(10, t0, "market", payload(10)); err != nil {
		t.Fatal(err)
	}
	err := l.Sync()
	if err == nil || !strings.Contains(err.Error(), "event log: write") || !errors.Is(err, ErrWriteFailed) {
		t.Fatalf("Sync on a dead file = %v, want a write error wrapping ErrWriteFailed", err)
	}
	if _, err2 := l.Append(11, t0, "market", nil); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Append after a failure = %v, want the same error", err2)
	}
	if st := l.Stats(); l.Durable() != 10 || !st.Failed || st.Failure != err.Error() {
		t.Errorf("durable %d, stats failed %v %q; want the 10 synced before the failure, and the failure", l.Durable(), st.Failed, st.Failure)
	}
	if n, err := Verify(dir); err != nil || n != 10 {
		t.Errorf("Verify after the failure = %d, %v; want 10 intact records", n, err)
	}
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync after the failure = %v, want the segment reopened", err)
	}
	appendN(t, l, 1)
	if st := l.Stats(); l.Durable() != 12 || st.Failed || st.WriteFailures != 1 {
		t.Errorf("after the repair: durable %d, stats %+v", l.Durable(), st)
	}
	if n, err := Verify(dir); err != nil || n != 12 {
		t.Errorf("Verify after the repair = %d, %v; want 12", n, err)
	}
}

func TestReadOnlyDirIsAClearError(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores directory permissions; a file in the way of the
		// directory fails the same way for everyone.
		path := filepath.Join(t.TempDir(), "file")
		os.WriteFile(path, nil, 0o600)
		if _, err := Open(filepath.Join(path, "log"), Options{}); err == nil || !strings.Contains(err.Error(), "open event log") {
			t.Errorf("Open under a file = %v", err)
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if _, err := Open(dir, Options{}); err == nil {
		t.Error("Open succeeded in a read-only directory")
	}
}

func TestStatsCountCommits(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	appendN(t, l, 10)
	appendN(t, l, 5)
	st := l.Stats()
	if st.Records != 15 || st.Durable != 15 || st.Appends != 15 || st.Syncs != 2 || st.Bytes == 0 || st.Failed {
		t.Errorf("stats %+v", st)
	}
	if st.SyncSeconds.Count != 2 || st.SyncSeconds.Counts[len(st.SyncSeconds.Counts)-1] > 2 || st.SyncSeconds.Sum <= 0 {
		t.Errorf("sync histogram %+v", st.SyncSeconds)
	}
}
