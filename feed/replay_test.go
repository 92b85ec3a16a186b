package feed_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/feed"
	"github.com/lineage-arena/lineage/market"
)

// writeFile writes content to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustOpen opens a Replay that is closed when the test ends.
func mustOpen(t testing.TB, paths []string, cfg feed.ReplayConfig) *feed.Replay {
	t.Helper()
	r, err := feed.OpenReplay(paths, cfg)
	if err != nil {
		t.Fatalf("OpenReplay: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// readAll reads r to its end, returning each tick as "time symbol price"
// and the error that ended it (nil for io.EOF).
func readAll(t testing.TB, r *feed.Replay) ([]string, error) {
	t.Helper()
	var got []string
	for {
		tk, err := r.Next(context.Background())
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if tk.Source != "replay" || tk.Stale || tk.Time.Location() != time.UTC {
			t.Errorf("tick %+v: want Source replay, not stale, UTC", tk)
		}
		got = append(got, fmt.Sprintf("%s %s %s", tk.Time.Format(time.RFC3339Nano), tk.Symbol, tk.Price))
	}
}

func TestReplayMerge(t *testing.T) {
	dir := t.TempDir()
	paths := []string{
		writeFile(t, dir, "a.csv", "timestamp,symbol,price\n"+
			"2024-01-01T00:01:00Z,BTC-USD,100\n"+
			"2024-01-01T00:02:00Z,ETH-USD,10\n"+
			"2024-01-01T00:02:00Z,BTC-USD,101\n"+
			"2024-01-01T00:04:00Z,BTC-USD,102\n"),
		// Milliseconds, no header; ticks at the candles' ends.
		writeFile(t, dir, "SOLUSDT-1m-2024-01.csv",
			"1704067200000,1,1,1,20.5,9,1704067259999,0,0,0,0,0\n"+
				"1704067260000,1,1,1,20.6,9,1704067319999,0,0,0,0,0\n"+
				"1704067320000,1,1,1,20.7,9,1704067379999,0,0,0,0,0\n"),
		// Microseconds with a header; the last row has no close_time.
		writeFile(t, dir, "ADAUSDT_1m.csv", "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"+
			"1704067320000000,1,1,1,0.61,9,1704067379999999,0,0,0,0,0\n"+
			"1704067410000000,1,1,1,0.62,9\n"),
	}
	r := mustOpen(t, paths, feed.ReplayConfig{})
	got, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2024-01-01T00:01:00Z BTC-USD 100.00",
		"2024-01-01T00:01:00Z SOL-USDT 20.50",
		"2024-01-01T00:02:00Z ETH-USD 10.00",
		"2024-01-01T00:02:00Z BTC-USD 101.00",
		"2024-01-01T00:02:00Z SOL-USDT 20.60",
		"2024-01-01T00:03:00Z SOL-USDT 20.70",
		"2024-01-01T00:03:00Z ADA-USDT 0.61",
		"2024-01-01T00:03:30Z ADA-USDT 0.62",
		"2024-01-01T00:04:00Z BTC-USD 102.00",
	}
	if !slices.Equal(got, want) {
		t.Errorf("merged ticks:\n got %q\nwant %q", got, want)
	}
	if got, want := r.Symbols(), []market.Symbol{"BTC-USD", "ETH-USD", "SOL-USDT", "ADA-USDT"}; !slices.Equal(got, want) {
		t.Errorf("Symbols() = %v, want %v", got, want)
	}
	if _, err := r.Next(t.Context()); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF again", err)
	}
}

// TestReplayRows reads one-row files: header and timestamp variants of
// both formats, and where a kline tick's time and symbol come from.
func TestReplayRows(t *testing.T) {
	const header = "timestamp,symbol,price\n"
	tests := []struct {
		name, file, content string
		cfg                 feed.ReplayConfig
		want                string
	}{
		{"rfc3339", "g.csv", header + "2024-01-01T00:00:00Z,BTC-USD,42000.5\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z BTC-USD 42000.50"},
		{"rfc3339 fraction", "g.csv", header + "2024-01-01T00:00:00.123456789Z,BTC-USD,1\n", feed.ReplayConfig{}, "2024-01-01T00:00:00.123456789Z BTC-USD 1.00"},
		{"rfc3339 offset", "g.csv", header + "2024-01-01T02:00:00+02:00,BTC-USD,1\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z BTC-USD 1.00"},
		{"epoch seconds", "g.csv", header + "1704067200,BTC-USD,1\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z BTC-USD 1.00"},
		{"epoch fractional seconds", "g.csv", header + "1704067200.25,BTC-USD,1\n", feed.ReplayConfig{}, "2024-01-01T00:00:00.25Z BTC-USD 1.00"},
		{"epoch milliseconds", "g.csv", header + "1704067200123,BTC-USD,1\n", feed.ReplayConfig{}, "2024-01-01T00:00:00.123Z BTC-USD 1.00"},
		{"epoch microseconds", "g.csv", header + "1704067200123456,BTC-USD,1\n", feed.ReplayConfig{}, "2024-01-01T00:00:00.123456Z BTC-USD 1.00"},
		{"header case and spaces", "g.csv", " TimeStamp , SYMBOL ,Price \r\n 1704067200 , btc/usdt , 0.00000001 \r\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z BTC-USDT 0.00000001"},
		{"byte order mark, blank lines, quotes", "g.csv", "\ufeff\n" + header + "\n\"1704067200\",\"ETH-USD\",\"3000\"\n\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z ETH-USD 3000.00"},
		{"exact decimal price", "g.csv", header + "1704067200,BTC-USD,0.1234567890\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z BTC-USD 0.12345679"},
		{"generic ignores the override", "g.csv", header + "1704067200,BTC-USD,1\n", feed.ReplayConfig{Symbol: "ETH-USD"}, "2024-01-01T00:00:00Z BTC-USD 1.00"},
		{"kline milliseconds", "BTCUSDT-1m-2024-01.csv", "1704067200000,1,2,0.5,1.5,10,1704067259999,0,0,0,0,0\n", feed.ReplayConfig{}, "2024-01-01T00:01:00Z BTC-USDT 1.50"},
		{"kline microseconds", "BTCUSDT-1m-2025-01.csv", "1704067200000000,1,2,0.5,1.5,10,1704067259999999,0,0,0,0,0\n", feed.ReplayConfig{}, "2024-01-01T00:01:00Z BTC-USDT 1.50"},
		{"kline header", "ETHBTC.csv", "open_time,open,high,low,close,volume,close_time\n1704067200000,1,1,1,0.05,1,1704067259999\n", feed.ReplayConfig{}, "2024-01-01T00:01:00Z ETH-BTC 0.05"},
		{"kline spaced header", "ETHBTC.csv", "Open time,Open,High,Low,Close,Volume,Close time\n1704067200000,1,1,1,0.05,1,1704067259999\n", feed.ReplayConfig{}, "2024-01-01T00:01:00Z ETH-BTC 0.05"},
		{"kline six columns", "SOLUSDT.csv", "1704067200000,1,1,1,3,1\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z SOL-USDT 3.00"},
		{"kline empty close_time", "SOLUSDT.csv", "1704067200000,1,1,1,3,1,,0\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z SOL-USDT 3.00"},
		{"kline close_time before open_time", "SOLUSDT.csv", "1704067200000,1,1,1,3,1,1704067100000\n", feed.ReplayConfig{}, "2024-01-01T00:00:00Z SOL-USDT 3.00"},
		{"kline symbol override", "candles.csv", "1704067200000,1,1,1,3,1\n", feed.ReplayConfig{Symbol: "sol/usd"}, "2024-01-01T00:00:00Z SOL-USD 3.00"},
		{"kline override beats the name", "BTCUSDT.csv", "1704067200000,1,1,1,3,1\n", feed.ReplayConfig{Symbol: "SOL-USD"}, "2024-01-01T00:00:00Z SOL-USD 3.00"},
		{"kline no trailing newline", "DOTUSD.csv", "1704067200000,1,1,1,3,1", feed.ReplayConfig{}, "2024-01-01T00:00:00Z DOT-USD 3.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.file, tt.content)
			got, err := readAll(t, mustOpen(t, []string{path}, tt.cfg))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("got %q, want [%q]", got, tt.want)
			}
		})
	}
}

// badRows are one bad data row each, on line 3 of their file after a good
// row, and the error text that must follow "path:3: ".
var badRows = []struct {
	name, file, row, want string
}{
	{"generic columns", "g.csv", "1704067300,BTC-USD", "2 columns, want 3"},
	{"generic extra column", "g.csv", "1704067300,BTC-USD,1,2", "4 columns, want 3"},
	{"price not a number", "g.csv", "1704067300,BTC-USD,abc", `price "abc": not a decimal number`},
	{"empty price", "g.csv", "1704067300,BTC-USD,", `price "": not a decimal number`},
	{"zero price", "g.csv", "1704067300,BTC-USD,0", `price "0": must be positive`},
	{"negative price", "g.csv", "1704067300,BTC-USD,-5", `price "-5": must be positive`},
	{"bad timestamp", "g.csv", "yesterday,BTC-USD,1", `timestamp "yesterday": want RFC 3339 or a unix epoch number`},
	{"epoch out of range", "g.csv", "170406720000000000,BTC-USD,1", `timestamp "170406720000000000": want a unix epoch number`},
	{"bad symbol", "g.csv", "1704067300,BTC,1", `invalid symbol "BTC"`},
	{"backwards", "g.csv", "1704067100,BTC-USD,1", "time 2023-12-31T23:58:20Z is before the previous row's 2024-01-01T00:03:20Z"},
	{"long line", "g.csv", "1704067300,BTC-USD," + strings.Repeat("9", 70_000), "line of 65536 bytes or more"},
	{"kline columns", "BTCUSDT.csv", "1704067300000,1,1,1,1", "5 columns, want 6 or more"},
	{"kline open_time", "BTCUSDT.csv", "17040673x0000,1,1,1,1,1", `open_time "17040673x0000": want a unix epoch number`},
	{"kline close_time", "BTCUSDT.csv", "1704067300000,1,1,1,1,1,soon", `close_time "soon": want a unix epoch number`},
	{"kline close", "BTCUSDT.csv", "1704067300000,1,1,1,1e,1", `price "1e": not a decimal number`},
	{"kline close below resolution", "BTCUSDT.csv", "1704067300000,1,1,1,0.000000001,1", `price "0.000000001": below the price resolution 0.00000001`},
	{"kline backwards", "BTCUSDT.csv", "1704067100000,1,1,1,1,1", "time 2023-12-31T23:58:20Z is before"},
}

// goodRows start a file of each format: a header or a first row, then a
// good row at 2024-01-01T00:03:20Z on line 2.
func goodRows(file string) string {
	if strings.HasPrefix(file, "g") {
		return "timestamp,symbol,price\n1704067400,BTC-USD,1\n"
	}
	return "open_time,open,high,low,close,volume\n1704067400000,1,1,1,1,1\n"
}

func TestReplayBadRow(t *testing.T) {
	for _, tt := range badRows {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.file, goodRows(tt.file)+tt.row+"\n1704067500,BTC-USD,1\n")
			r := mustOpen(t, []string{path}, feed.ReplayConfig{})
			got, err := readAll(t, r)
			if len(got) != 1 {
				t.Errorf("read %d ticks before the error, want 1", len(got))
			}
			want := path + ":3: " + tt.want
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error = %v, want it to start with %q", err, want)
			}
			if _, again := r.Next(t.Context()); again != err {
				t.Errorf("next Next = %v, want the same error", again)
			}
		})
	}
}

// A bad first row fails OpenReplay; lenient replay skips it.
func TestReplayBadFirstRow(t *testing.T) {
	for _, tt := range badRows {
		if strings.Contains(tt.name, "backwards") {
			continue // a first row has nothing to go back from
		}
		t.Run(tt.name, func(t *testing.T) {
			header, _, _ := strings.Cut(goodRows(tt.file), "\n")
			path := writeFile(t, t.TempDir(), tt.file, header+"\n"+tt.row+"\n")
			_, err := feed.OpenReplay([]string{path}, feed.ReplayConfig{})
			if want := path + ":2: " + tt.want; err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("OpenReplay error = %v, want it to start with %q", err, want)
			}
			r := mustOpen(t, []string{path}, feed.ReplayConfig{Lenient: true})
			if got, err := readAll(t, r); len(got) != 0 || err != nil || r.Skipped() != 1 {
				t.Errorf("lenient: read %q, %v, skipped %d; want nothing, nil, 1", got, err, r.Skipped())
			}
		})
	}
}

func TestReplayLenient(t *testing.T) {
	var generic, kline strings.Builder
	generic.WriteString(goodRows("g"))
	kline.WriteString(goodRows("k"))
	var bad int
	for _, tt := range badRows {
		b := &kline
		if tt.file == "g.csv" {
			b = &generic
		}
		fmt.Fprintln(b, tt.row)
		bad++
	}
	generic.WriteString("1704067500,ETH-USD,2\n")
	kline.WriteString("1704067500000,1,1,1,3,1\n")
	dir := t.TempDir()
	paths := []string{writeFile(t, dir, "g.csv", generic.String()), writeFile(t, dir, "BTCUSDT.csv", kline.String())}
	r := mustOpen(t, paths, feed.ReplayConfig{Lenient: true})
	got, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2024-01-01T00:03:20Z BTC-USD 1.00",
		"2024-01-01T00:03:20Z BTC-USDT 1.00",
		"2024-01-01T00:05:00Z ETH-USD 2.00",
		"2024-01-01T00:05:00Z BTC-USDT 3.00",
	}
	if !slices.Equal(got, want) {
		t.Errorf("lenient ticks:\n got %q\nwant %q", got, want)
	}
	if r.Skipped() != bad {
		t.Errorf("Skipped() = %d, want %d", r.Skipped(), bad)
	}
}

func TestOpenReplayErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", "timestamp,symbol,price\n1704067200,BTC-USD,1\n")
	tests := []struct {
		name  string
		paths []string
		cfg   feed.ReplayConfig
		want  string // the error contains it
	}{
		{"no files", nil, feed.ReplayConfig{}, "no files"},
		{"missing file", []string{good, filepath.Join(dir, "missing.csv")}, feed.ReplayConfig{}, filepath.Join(dir, "missing.csv")},
		{"empty file", []string{writeFile(t, dir, "empty.csv", "")}, feed.ReplayConfig{}, filepath.Join(dir, "empty.csv") + ": no data rows"},
		{"blank file", []string{writeFile(t, dir, "blank.csv", "\n \n")}, feed.ReplayConfig{}, filepath.Join(dir, "blank.csv") + ": no data rows"},
		{"header only", []string{writeFile(t, dir, "header.csv", "timestamp,symbol,price\n")}, feed.ReplayConfig{Lenient: true}, filepath.Join(dir, "header.csv") + ": no data rows"},
		{"kline header only", []string{writeFile(t, dir, "BTCUSD.csv", "open_time,open\n")}, feed.ReplayConfig{}, filepath.Join(dir, "BTCUSD.csv") + ": no data rows"},
		{"unknown format", []string{writeFile(t, dir, "prices.csv", "date,close\n2024-01-01,1\n")}, feed.ReplayConfig{Lenient: true}, filepath.Join(dir, "prices.csv") + `:1: unrecognized first line "date,close"`},
		{"headerless generic", []string{writeFile(t, dir, "nohead.csv", "1704067200,BTC-USD,1\n")}, feed.ReplayConfig{}, "unrecognized first line"},
		{"kline symbol unknown", []string{writeFile(t, dir, "candles-1m.csv", "1704067200000,1,1,1,1,1\n")}, feed.ReplayConfig{}, "ReplayConfig.Symbol"},
		{"bad override", []string{good}, feed.ReplayConfig{Symbol: "bitcoin"}, `invalid symbol "bitcoin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := feed.OpenReplay(tt.paths, tt.cfg)
			if err == nil {
				r.Close()
				t.Fatal("OpenReplay succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("missing file is fs.ErrNotExist", func(t *testing.T) {
		_, err := feed.OpenReplay([]string{filepath.Join(dir, "missing.csv")}, feed.ReplayConfig{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestReplaySymbols(t *testing.T) {
	dir := t.TempDir()
	paths := []string{
		writeFile(t, dir, "ETHUSDT-1m.csv", "1704067200000,1,1,1,1,1\n"),
		writeFile(t, dir, "mixed.csv", "timestamp,symbol,price\n"+
			"1704067200,SOL-USD,1\n1704067201,BTC-USD,1\n1704067202,nonsense,1\n"+
			"1704067203,sol/usd,1\n1704067204,ETH-USDT,1\n1704067205,ADA-USD,1\n"),
	}
	r := mustOpen(t, paths, feed.ReplayConfig{Lenient: true})
	want := []market.Symbol{"ETH-USDT", "SOL-USD", "BTC-USD", "ADA-USD"}
	if got := r.Symbols(); !slices.Equal(got, want) {
		t.Errorf("Symbols() = %v, want %v", got, want)
	}
	r.Symbols()[0] = "X-Y"
	if got := r.Symbols(); got[0] != want[0] {
		t.Errorf("Symbols() shares its slice with the caller")
	}
	// The pre-scan does not disturb streaming.
	got, err := readAll(t, r)
	if err != nil || len(got) != 6 || r.Skipped() != 1 {
		t.Errorf("read %d ticks, skipped %d, err %v; want 6, 1, nil", len(got), r.Skipped(), err)
	}
}

func TestReplayFixtures(t *testing.T) {
	paths := []string{"testdata/ticks.csv", "testdata/ETHUSDT-1m-2025-01.csv", "testdata/BTCUSDT-1m-2024-01.csv"}
	r := mustOpen(t, paths, feed.ReplayConfig{})
	got, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2024-01-01T00:01:00Z BTC-USDT 42298.61",
		"2024-01-01T00:02:00Z BTC-USDT 42319.99",
		"2024-01-01T00:03:00Z BTC-USDT 42307.53",
		"2025-01-01T00:00:30Z SOL-USD 189.50",
		"2025-01-01T00:01:00Z ETH-USDT 3340.10",
		"2025-01-01T00:01:00.5Z SOL-USD 189.75",
		"2025-01-01T00:02:00Z SOL-USD 190.00000001",
		"2025-01-01T00:02:00Z ETH-USDT 3343.55",
	}
	if !slices.Equal(got, want) {
		t.Errorf("fixture ticks:\n got %q\nwant %q", got, want)
	}
}

func TestReplayContextCanceled(t *testing.T) {
	path := writeFile(t, t.TempDir(), "g.csv", "timestamp,symbol,price\n1704067200,BTC-USD,1\n1704067201,BTC-USD,2\n")
	r := mustOpen(t, []string{path}, feed.ReplayConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a canceled context = %v, want context.Canceled", err)
	}
	// Cancellation loses nothing.
	got, err := readAll(t, r)
	if err != nil || len(got) != 2 {
		t.Errorf("after cancellation read %q, %v; want both ticks", got, err)
	}
}

func TestReplayClose(t *testing.T) {
	path := writeFile(t, t.TempDir(), "g.csv", "timestamp,symbol,price\n1704067200,BTC-USD,1\n")
	r, err := feed.OpenReplay([]string{path}, feed.ReplayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Next(t.Context()); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Next after Close = %v, want fs.ErrClosed", err)
	}
}
