package eventlog

import (
	"fmt"
	"testing"
)

// Iter starts at the index entry nearest before its first record, across
// segments, for an index built by Open's scan and one extended by Append.
func TestIterFromAnySequence(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentBytes: 600 << 10})
	appendN(t, l, 20000) // several index entries in each of several segments
	check := func(l *Log, name string) {
		t.Helper()
		for _, from := range []uint64{0, 1, 199, 200, 201, 1000, 5555, 10001, 17777, 19999, 20000, 25000} {
			got := readAll(t, l, from)
			want := max(0, 20000-int(from))
			if len(got) != want {
				t.Fatalf("%s: Iter(%d) read %d records, want %d", name, from, len(got), want)
			}
			for i, r := range got {
				if r.Seq != from+uint64(i) || string(r.Payload) != string(payload(r.Seq)) {
					t.Fatalf("%s: Iter(%d) record %d is %d %q", name, from, i, r.Seq, r.Payload)
				}
			}
		}
	}
	check(l, "appended")
	if len(l.idx.entries) < 10 || len(l.segs) < 3 {
		t.Fatalf("%d index entries over %d segments; the test wants several of each", len(l.idx.entries), len(l.segs))
	}
	l.Close()
	check(mustOpen(t, dir, Options{SegmentBytes: 600 << 10}), "reopened")
}

// A read near the end of a segment does not read the segment from its
// start: a byte damaged there after Open does not stop it (it would if the
// read began at offset 0).
func TestIterSeeksPastTheSegmentStart(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	appendN(t, l, 2000)
	flip(t, lastSegment(t, dir), 100)
	if got := readAll(t, l, 1990); len(got) != 10 || got[0].Seq != 1990 {
		t.Errorf("Iter(1990) read %d records", len(got))
	}
}

// BenchmarkIterNearEndOfSegment measures reading 100 records from a
// sequence number at the start, middle and end of one full 64 MiB segment,
// as /api/events?since=N and ?since= resumes do.
func BenchmarkIterNearEndOfSegment(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	p := make([]byte, 250)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	var n uint64
	for ; l.Stats().Segments == 1; n++ {
		if _, err := l.Append(n, t0, "market", p); err != nil {
			b.Fatal(err)
		}
		if n%10000 == 0 {
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	n-- // the last record started the second segment
	for _, at := range []float64{0, 0.5, 0.99} {
		from := uint64(float64(n-100) * at)
		b.Run(fmt.Sprintf("at=%.2f", at), func(b *testing.B) {
			for b.Loop() {
				it := l.Iter(from)
				for range 100 {
					if _, err := it.Next(); err != nil {
						b.Fatal(err)
					}
				}
				it.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/read")
		})
	}
}
