package feed_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/feed"
)

func BenchmarkSim(b *testing.B) {
	s := feed.NewSim(feed.SimConfig{Seed: 1})
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
}

// BenchmarkReplay merges two files of 100,000 rows each, reopening them
// when exhausted; one op is one tick.
func BenchmarkReplay(b *testing.B) {
	const rows = 100_000
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	formats := []struct {
		name   string
		files  []string
		header string
		row    func(i int, sym string) string
	}{
		{"generic", []string{"a.csv", "b.csv"}, "timestamp,symbol,price\n", func(i int, sym string) string {
			return fmt.Sprintf("%s,%s-USD,%d.%08d\n", start.Add(time.Duration(i)*time.Second).Format("2006-01-02T15:04:05.000Z07:00"), sym, 40000+i%1000, i)
		}},
		{"kline", []string{"BTCUSDT-1m.csv", "ETHUSDT-1m.csv"}, "", func(i int, sym string) string {
			open := start.Add(time.Duration(i) * time.Minute).UnixMilli()
			return fmt.Sprintf("%d,42000.01,42010.00,41990.00,%d.%08d,12.5,%d,525000.0,300,6.1,256000.0,0\n", open, 40000+i%1000, i, open+59_999)
		}},
	}
	for _, f := range formats {
		b.Run(f.name, func(b *testing.B) {
			dir := b.TempDir()
			var paths []string
			var size int64
			for j, name := range f.files {
				path := filepath.Join(dir, name)
				file, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				w := bufio.NewWriter(file)
				w.WriteString(f.header)
				for i := range rows {
					w.WriteString(f.row(i, []string{"BTC", "ETH"}[j]))
				}
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
				info, _ := file.Stat()
				size += info.Size()
				file.Close()
				paths = append(paths, path)
			}
			b.SetBytes(size / int64(len(f.files)*rows))
			open := func() *feed.Replay {
				r, err := feed.OpenReplay(paths, feed.ReplayConfig{})
				if err != nil {
					b.Fatal(err)
				}
				return r
			}
			r := open()
			ctx := context.Background()
			for b.Loop() {
				_, err := r.Next(ctx)
				if err == io.EOF {
					r.Close()
					r = open()
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			r.Close()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
		})
	}
}
