package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/lineage-arena/lineage/market"
)

// ReplayConfig configures OpenReplay. Its zero value is strict replay with
// kline symbols taken from the file names.
type ReplayConfig struct {
	// Symbol overrides the symbol of candle (kline) files: when set, it is
	// the symbol of every kline file; "" means each kline file's symbol
	// comes from its name. It does not apply to generic files, whose rows
	// name their symbols. It goes through market.ParseSymbol; an invalid
	// one fails OpenReplay.
	Symbol market.Symbol
	// Lenient skips bad rows and counts them (see Replay.Skipped) instead
	// of failing.
	Lenient bool
}

// Replay replays recorded prices from CSV files as one Source, merging the
// files in time order. Ties go to the file listed first, then to the
// earlier row. Files are streamed, one buffered line at a time, so memory
// does not grow with their size; generic files are read twice (see
// OpenReplay). Ticks carry Source "replay" and times in UTC.
//
// Each file's format is detected from its first non-blank line:
//
//   - Generic: a header timestamp,symbol,price (any case, spaces allowed),
//     then rows of exactly those three columns. The timestamp is RFC 3339,
//     with or without fractional seconds, or a unix epoch number, possibly
//     fractional, whose unit follows from its magnitude: below 1e11
//     seconds, below 1e14 milliseconds, below 1e17 microseconds. The
//     symbol goes through market.ParseSymbol and the price through
//     market.ParsePrice, so prices stay exact.
//   - Binance kline export: rows of open_time, open, high, low, close,
//     volume, close_time, ... (six columns or more), with an optional
//     header line starting with open_time or "open time". Times are epoch
//     numbers read as above, so both the millisecond and the microsecond
//     exports work, row by row. The tick's price is close; its time is
//     close_time plus one unit (the candle's end) when close_time is
//     present and not before open_time, else open_time. Only these three
//     columns are parsed. The symbol is ReplayConfig.Symbol, else the file
//     name's first token before '-', '_' or '.' ("BTCUSDT-1m-2024-01.csv"
//     is BTC-USDT).
//
// Blank lines are ignored. A bad row — a wrong column count, a malformed
// number or timestamp, a non-positive price, an invalid symbol, a time
// before the previous row's in the same file, or a line of 64 KiB or more —
// is an error whose text starts with the file's path and line number, such
// as `data/btc.csv:17: price "abc": not a decimal number`. With
// ReplayConfig.Lenient such rows are skipped and counted instead. A read
// error or an unrecognisable first line is fatal either way.
//
// A Replay is not safe for concurrent use; its owner calls Close when done.
type Replay struct {
	files   []*csvFile
	heap    []int // indices of files with a head, ordered by less
	advance bool  // the root's head was returned: read its next row first
	lenient bool
	skipped int
	symbols []market.Symbol
	err     error // sticky: a bad row, a read error or Close
}

var _ Source = (*Replay)(nil)

// OpenReplay opens the files at paths in order and returns a Replay over
// them. It reads each generic file once to collect its symbols (see
// Symbols), then reads every file's first good row. It fails, closing what
// it opened, when paths is empty, a file cannot be opened (the error names
// the path), a file has no data rows, a kline file's symbol is unknown, or
// a first row is bad and cfg.Lenient is false.
func OpenReplay(paths []string, cfg ReplayConfig) (*Replay, error) {
	if len(paths) == 0 {
		return nil, errors.New("open replay: no files")
	}
	sym := cfg.Symbol
	if sym != "" {
		var err error
		if sym, err = market.ParseSymbol(string(sym)); err != nil {
			return nil, fmt.Errorf("open replay: %w", err)
		}
	}
	r := &Replay{lenient: cfg.Lenient}
	if err := r.open(paths, sym); err != nil {
		_ = r.Close() // the open error is the one to report
		return nil, err
	}
	return r, nil
}

func (r *Replay) open(paths []string, sym market.Symbol) error {
	seen := map[market.Symbol]bool{}
	add := func(s market.Symbol) {
		if !seen[s] {
			seen[s] = true
			r.symbols = append(r.symbols, s)
		}
	}
	for i, path := range paths {
		c, err := openCSV(path, sym)
		if err != nil {
			return err
		}
		r.files = append(r.files, c)
		if c.format == kline {
			add(c.sym)
		} else if err := c.scanSymbols(add); err != nil {
			return err
		}
		err = c.next(r.lenient, &r.skipped)
		switch {
		case err == io.EOF && c.rows == 0:
			return fmt.Errorf("%s: no data rows", path)
		case err == io.EOF:
			if err := c.close(); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			r.push(i)
		}
	}
	return nil
}

// Symbols returns the symbols of the replay in order of first appearance,
// files in the order given: a kline file's symbol, and every symbol field
// of a generic file that parses. Some may never tick, when all their rows
// are skipped as bad. The slice is a copy the caller may keep.
func (r *Replay) Symbols() []market.Symbol {
	return append([]market.Symbol(nil), r.symbols...)
}

// Skipped returns how many bad rows lenient replay has skipped so far.
func (r *Replay) Skipped() int { return r.skipped }

// Next returns the earliest unread tick across the files, io.EOF once all
// are exhausted, or ctx.Err() when ctx is done. A bad row (when not
// lenient) or a read error ends the replay: Next returns that error then
// and on every later call, as it does io.EOF. After Close it returns an
// error wrapping fs.ErrClosed.
func (r *Replay) Next(ctx context.Context) (market.Tick, error) {
	if err := ctx.Err(); err != nil {
		return market.Tick{}, err
	}
	if r.err != nil {
		return market.Tick{}, r.err
	}
	if r.advance {
		r.advance = false
		c := r.files[r.heap[0]]
		switch err := c.next(r.lenient, &r.skipped); {
		case err == nil:
			r.down(0)
		case err == io.EOF:
			r.pop()
			if err := c.close(); err != nil {
				r.err = fmt.Errorf("close %s: %w", c.path, err)
				return market.Tick{}, r.err
			}
		default:
			r.err = err
			return market.Tick{}, err
		}
	}
	if len(r.heap) == 0 {
		return market.Tick{}, io.EOF
	}
	r.advance = true
	return r.files[r.heap[0]].head, nil
}

// Close closes every file still open and returns the first error. Later
// calls return nil, and Next fails.
func (r *Replay) Close() error {
	if r.err == nil {
		r.err = fmt.Errorf("replay: %w", fs.ErrClosed)
	}
	var first error
	for _, c := range r.files {
		if err := c.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// less orders heap entries by head time, then by file order.
func (r *Replay) less(a, b int) bool {
	if cmp := r.files[a].head.Time.Compare(r.files[b].head.Time); cmp != 0 {
		return cmp < 0
	}
	return a < b
}

func (r *Replay) push(i int) {
	r.heap = append(r.heap, i)
	for j := len(r.heap) - 1; j > 0; {
		parent := (j - 1) / 2
		if !r.less(r.heap[j], r.heap[parent]) {
			break
		}
		r.heap[j], r.heap[parent] = r.heap[parent], r.heap[j]
		j = parent
	}
}

func (r *Replay) pop() {
	last := len(r.heap) - 1
	r.heap[0] = r.heap[last]
	r.heap = r.heap[:last]
	if last > 0 {
		r.down(0)
	}
}

func (r *Replay) down(j int) {
	n := len(r.heap)
	for {
		least := j
		if l := 2*j + 1; l < n && r.less(r.heap[l], r.heap[least]) {
			least = l
		}
		if rt := 2*j + 2; rt < n && r.less(r.heap[rt], r.heap[least]) {
			least = rt
		}
		if least == j {
			return
		}
		r.heap[j], r.heap[least] = r.heap[least], r.heap[j]
		j = least
	}
}
