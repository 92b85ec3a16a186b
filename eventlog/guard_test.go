package eventlog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A directory has one writer at a time: a second Open is refused, naming
// the holder, until the first Log is closed.
func TestSecondWriterIsLocked(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	appendN(t, l, 3)
	_, err := Open(dir, Options{})
	want := fmt.Sprintf("data dir is in use by process %d", os.Getpid())
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second Open = %v, want ErrLocked saying %q", err, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, LockFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, Options{})
	if next, _ := l2.Last(); next != 3 {
		t.Errorf("after the first writer closed: next %d, want 3", next)
	}
}

// dirDigest hashes every file of dir, names and contents.
func dirDigest(t *testing.T, dir string) [32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(b))
		h.Write(b)
	}
	return [32]byte(h.Sum(nil))
}

// A read-only open beside a writer that is appending sees a consistent
// prefix of the log, never an error, and changes no byte — a frame half
// written is the end of the log, not a defect to repair.
func TestReadOnlyBesideAWriter(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentBytes: 16 << 10})
	appendN(t, l, 10)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			appendN(t, l, 1+rand.IntN(20))
		}
	})
	for i := range 30 {
		r, err := OpenReadOnly(dir, Options{})
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("read-only open %d beside a writer: %v", i, err)
		}
		if got := readAll(t, r, 0); uint64(len(got)) != r.Durable() || len(got) < 10 {
			t.Errorf("read-only open %d: read %d records, Durable %d", i, len(got), r.Durable())
		}
		r.Close()
	}
	close(stop)
	wg.Wait()

	// Half of a frame, as a write in progress leaves it.
	next, last := l.Last()
	rec := Record{Seq: next, Type: "market", Payload: payload(next), Prev: last}
	frame, _ := rec.encode(nil)
	if _, err := l.seg.WriteAt(frame[:len(frame)/2], l.size); err != nil {
		t.Fatal(err)
	}
	before := dirDigest(t, dir)
	r, err := OpenReadOnly(dir, Options{})
	if err != nil {
		t.Fatalf("read-only open with a write in progress: %v", err)
	}
	if n, _ := r.Last(); n != next || r.Pending() != int64(len(frame)/2) {
		t.Errorf("read-only: next %d, pending %d; want %d, %d", n, r.Pending(), next, len(frame)/2)
	}
	if _, err := r.Append(next, t0, "market", nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append on a read-only log = %v, want ErrReadOnly", err)
	}
	r.Close()
	if dirDigest(t, dir) != before {
		t.Error("a read-only open changed the directory")
	}
}

// Losing the newest committed records — the last segment cut at a record
// boundary, deleted, or its last record replaced by another with a valid
// chain — is refused by Open and by a read-only open alike.
func TestLostTailIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"cut at a record boundary", func(t *testing.T, dir string) {
			path := lastSegment(t, dir)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:frameAt(b, 5)], 0o600)
		}, "but sequence 199 was committed"},
		{"last segment deleted", func(t *testing.T, dir string) {
			os.Remove(lastSegment(t, dir))
		}, "but sequence 199 was committed"},
		{"last record replaced", func(t *testing.T, dir string) {
			path := lastSegment(t, dir)
			b, _ := os.ReadFile(path)
			var prev [32]byte
			Walk(dir, func(r Record) error {
				if r.Seq == 198 {
					prev = r.Hash
				}
				return nil
			})
			forged := Record{Seq: 199, Time: t0, Type: "market", Payload: []byte(`{"forged":true}`), Prev: prev}
			frame, _ := forged.encode(nil)
			last := len(b) - lastFrameLen(b)
			os.WriteFile(path, append(b[:last:last], frame...), 0o600)
		}, "record 199 is not the record that was committed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, Options{SegmentBytes: 4 << 10})
			appendN(t, l, 200)
			l.Close()
			tt.damage(t, dir)
			before := dirDigest(t, dir)
			if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want %q", err, tt.want)
			}
			if _, err := OpenReadOnly(dir, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenReadOnly = %v, want %q", err, tt.want)
			}
			if _, err := Verify(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v, want %q", err, tt.want)
			}
			if dirDigest(t, dir) != before {
				t.Error("a refused open changed the directory")
			}
		})
	}
}

// A segment that does not start with a record of this log is someone
// else's file, not a torn tail: refused, and left as it was.
func TestForeignSegmentIsRefused(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"random bytes", func() []byte {
			b := make([]byte, 1000)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		}()},
		{"text", []byte("hello, this is not a log\n")},
		{"a frame of another sequence", func() []byte {
			r := Record{Seq: 7, Time: t0, Type: "market", Payload: []byte("{}")}
			f, _ := r.encode(nil)
			return f[:len(f)-3]
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, segmentName(0))
			os.WriteFile(path, tt.b, 0o600)
			for name, open := range map[string]func() error{
				"Open":         func() error { l, err := Open(dir, Options{}); closeIf(l); return err },
				"OpenReadOnly": func() error { l, err := OpenReadOnly(dir, Options{}); closeIf(l); return err },
				"Verify":       func() error { _, err := Verify(dir); return err },
			} {
				if err := open(); !errors.Is(err, ErrNotSegment) || strings.Contains(err.Error(), "torn") {
					t.Errorf("%s = %v, want ErrNotSegment", name, err)
				}
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, tt.b) {
				t.Error("the foreign file was changed")
			}
		})
	}
	// A genesis write cut short by a crash is still a torn tail.
	dir := t.TempDir()
	r := Record{Seq: 0, Time: t0, Type: "genesis", Payload: []byte("{}")}
	f, _ := r.encode(nil)
	os.WriteFile(filepath.Join(dir, segmentName(0)), f[:len(f)-3], 0o600)
	l := mustOpen(t, dir, Options{})
	if next, _ := l.Last(); next != 0 {
		t.Errorf("after a torn genesis: next %d, want 0", next)
	}
}

func closeIf(l *Log) {
	if l != nil {
		l.Close()
	}
}
