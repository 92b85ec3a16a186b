package eventlog

import (
	"fmt"
	"testing"
)

// BenchmarkDurableAppend measures durable appends per second: records of a
// typical event's size (about 250 bytes of JSON), one fsync per batch —
// group commit, as the server does once per tick.
func BenchmarkDurableAppend(b *testing.B) {
	p := make([]byte, 250)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	for _, batch := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			for i := range b.N {
				if _, err := l.Append(uint64(i), t0, "trade", p); err != nil {
					b.Fatal(err)
				}
				if (i+1)%batch == 0 || i == b.N-1 {
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkOpen measures opening (reading and checking every record of) a
// log of one million events.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 250)
	const n = 1_000_000
	for i := range n {
		if _, err := l.Append(uint64(i), t0, "market", p); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		l, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
