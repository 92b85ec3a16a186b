package storagebench

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// writers are the backends under the append workload.
var writers = []struct {
	name string
	open func(dir string) (store, error)
}{
	{"eventlog", openEventlog},
	{"bbolt", func(dir string) (store, error) { return openBolt(dir, boltConfig{}) }},
	{"bbolt-nofreelistsync", func(dir string) (store, error) { return openBolt(dir, boltConfig{noFreelistSync: true}) }},
	{"sqlite-wal-full", openSQLite},
}

// readers are the backends under the read-back workload. bbolt-fill100 sets
// the bucket's FillPercent to 1.0, bbolt's advice for append-only keys; the
// default (0.5) leaves sequentially filled pages half empty.
var readers = []struct {
	name string
	open func(dir string) (store, error)
	read func(dir string) (uint64, error)
}{
	{"eventlog", openEventlog, readEventlog},
	{"bbolt", func(dir string) (store, error) { return openBolt(dir, boltConfig{}) }, readBolt},
	{"bbolt-fill100", func(dir string) (store, error) { return openBolt(dir, boltConfig{fillPercent: 1.0}) }, readBolt},
	{"sqlite-wal-full", openSQLite, readSQLite},
}

// BenchmarkDurableAppend measures durable appends per second: 250-byte
// records, one durable commit (Sync, Update, COMMIT) per batch.
func BenchmarkDurableAppend(b *testing.B) {
	for _, w := range writers {
		b.Run(w.name, func(b *testing.B) {
			for _, batch := range []int{1, 100, 1000} {
				b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
					s, err := w.open(b.TempDir())
					if err != nil {
						b.Fatal(err)
					}
					b.SetBytes(int64(len(payload)))
					b.ResetTimer()
					for i := 0; i < b.N; i += batch {
						if err := s.appendBatch(min(batch, b.N-i)); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
					if err := s.close(); err != nil {
						b.Fatal(err)
					}
				})
			}
		})
	}
}

// readRecords is the size of the log the read-back benchmark verifies.
const readRecords = 1_000_000

// benchRoot holds the million-record stores, built once per process and
// shared by the rounds of BenchmarkReadBack (which the testing package runs
// more than once to size b.N).
var (
	benchRoot string
	built     = map[string]int64{} // backend name -> bytes on disk
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "storagebench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	benchRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build writes n records to dir through open, in durable batches of 10,000,
// closes the store and returns its size on disk.
func build(dir string, n int, open func(string) (store, error)) (int64, error) {
	s, err := open(dir)
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i += 10_000 {
		if err := s.appendBatch(min(10_000, n-i)); err != nil {
			s.close()
			return 0, err
		}
	}
	if err := s.close(); err != nil {
		return 0, err
	}
	return dirBytes(dir)
}

// BenchmarkReadBack measures opening a store of one million records and
// reading every one, checking the sequence, each hash and the chain. The
// store is built (untimed) on first use; reads are from a warm page cache.
func BenchmarkReadBack(b *testing.B) {
	for _, r := range readers {
		b.Run(r.name, func(b *testing.B) {
			dir := benchRoot + "/" + r.name
			size, ok := built[r.name]
			if !ok {
				start := time.Now()
				var err error
				if size, err = build(dir, readRecords, r.open); err != nil {
					b.Fatal(err)
				}
				built[r.name] = size
				b.Logf("built %d records in %v: %d bytes", readRecords, time.Since(start).Round(time.Millisecond), size)
			}
			b.ResetTimer()
			for range b.N {
				n, err := r.read(dir)
				if err != nil {
					b.Fatal(err)
				}
				if n != readRecords {
					b.Fatalf("read %d records, want %d", n, readRecords)
				}
			}
			b.StopTimer()
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/1M")
			b.ReportMetric(float64(readRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(size)/readRecords, "bytes/record")
		})
	}
}

// TestRoundTrip checks that every backend reads back what it wrote and that
// the check catches a changed record.
func TestRoundTrip(t *testing.T) {
	const n = 2_500
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := build(dir, n, r.open); err != nil {
				t.Fatal(err)
			}
			got, err := r.read(dir)
			if err != nil || got != n {
				t.Fatalf("read back %d records, %v; want %d", got, err, n)
			}
		})
	}
}

func TestCheckBodyCatchesTampering(t *testing.T) {
	var w chain
	var bodies [][]byte
	for range 3 {
		body, _ := w.body(nil, t0, evType, payload)
		bodies = append(bodies, body)
	}
	var r chain
	for _, body := range bodies {
		if err := r.checkBody(body); err != nil {
			t.Fatal(err)
		}
	}
	for i := range bodies {
		for _, off := range []int{0, 10, 20, 40, 100, len(bodies[i]) - 1} {
			var r chain
			var err error
			for j, body := range bodies {
				if j == i {
					body = append([]byte(nil), body...)
					body[off] ^= 1
				}
				if err = r.checkBody(body); err != nil {
					break
				}
			}
			if err == nil {
				t.Errorf("record %d, byte %d flipped: not detected", i, off)
			}
		}
	}
}
