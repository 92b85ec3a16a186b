package feed

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// maxLine bounds a line in bytes, its newline included; a longer line is a
// bad row. It is also the read buffer of each open file.
const maxLine = 64 << 10

// maxCachedSymbols bounds the per-file cache of parsed symbol fields.
const maxCachedSymbols = 4096

var errTooLong = fmt.Errorf("line of %d bytes or more", maxLine)

type format int

const (
	generic format = iota + 1 // header timestamp,symbol,price
	kline                     // Binance candles: open_time,open,high,low,close,volume,close_time,...
)

// rowError is a bad row: its text starts with path:line.
type rowError struct {
	path string
	line int
	err  error
}

func (e *rowError) Error() string { return fmt.Sprintf("%s:%d: %v", e.path, e.line, e.err) }
func (e *rowError) Unwrap() error { return e.err }

// csvFile streams the rows of one file as ticks.
type csvFile struct {
	path   string
	f      *os.File // nil once exhausted or closed
	r      *bufio.Reader
	format format
	header int                      // line number of the header, 0 if none
	sym    market.Symbol            // kline files: the symbol of every row
	syms   map[string]market.Symbol // generic files: symbol field → symbol
	line   int                      // number of the last line read
	rows   int                      // data rows read, good or bad
	last   time.Time                // time of the last good row
	head   market.Tick              // the last good row, once next succeeds
	fields []string                 // reused by split
	first  []byte                   // a headerless kline file's first line, still to parse
}

// openCSV opens path and detects its format from its first non-blank line.
// sym, when set, is the symbol of a kline file.
func openCSV(path string, sym market.Symbol) (*csvFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c := &csvFile{path: path, f: f, r: bufio.NewReaderSize(f, maxLine), syms: map[string]market.Symbol{}}
	if err := c.detect(); err != nil {
		c.close()
		return nil, err
	}
	if c.format == kline {
		if sym == "" {
			sym = symbolFromName(path)
		}
		if sym == "" {
			c.close()
			return nil, fmt.Errorf("%s: cannot tell the symbol of a kline file from its name; pass it in ReplayConfig.Symbol", path)
		}
		c.sym = sym
	}
	return c, nil
}

func (c *csvFile) detect() error {
	for {
		b, err := c.readLine()
		switch {
		case err == io.EOF:
			return fmt.Errorf("%s: no data rows", c.path)
		case err == errTooLong:
			return &rowError{c.path, c.line, err}
		case err != nil:
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		fs := split(string(b), c.fields[:0])
		lower := strings.ToLower(fs[0])
		switch {
		case len(fs) == 3 && lower == "timestamp" && strings.EqualFold(fs[1], "symbol") && strings.EqualFold(fs[2], "price"):
			c.format, c.header = generic, c.line
		case strings.HasPrefix(lower, "open_time") || strings.HasPrefix(lower, "open time"):
			c.format, c.header = kline, c.line
		case len(fs) >= 6 && isDigits(fs[0]):
			c.format, c.first = kline, append([]byte(nil), b...)
		default:
			return &rowError{c.path, c.line, fmt.Errorf("unrecognized first line %.40q: want the header timestamp,symbol,price or Binance kline rows", b)}
		}
		return nil
	}
}

// scanSymbols reads the rest of a generic file, calling add with the symbol
// of every row whose symbol field parses, then rewinds to the first row.
func (c *csvFile) scanSymbols(add func(market.Symbol)) error {
	for {
		b, err := c.readLine()
		if err == io.EOF {
			break
		}
		if err == errTooLong {
			continue
		}
		if err != nil {
			return err
		}
		_, rest, ok := bytes.Cut(b, []byte{','})
		if !ok {
			continue
		}
		field, _, _ := bytes.Cut(rest, []byte{','})
		field = clean(field)
		if sym, ok := c.syms[string(field)]; ok { // no allocation
			add(sym)
		} else if sym, err := c.symbol(string(field)); err == nil {
			add(sym)
		}
	}
	if _, err := c.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind %s: %w", c.path, err)
	}
	c.r.Reset(c.f)
	for c.line = 0; c.line < c.header; {
		if _, err := c.readLine(); err != nil && err != errTooLong {
			return fmt.Errorf("rewind %s: %w", c.path, err)
		}
	}
	return nil
}

// next reads rows until one is good and makes it c.head. A bad row is a
// *rowError, or is skipped and counted in *skipped when lenient. It
// returns io.EOF at the end of the file.
func (c *csvFile) next(lenient bool, skipped *int) error {
	for {
		var b []byte
		var err error
		if c.first != nil {
			b, c.first = c.first, nil
		} else if b, err = c.readLine(); err != nil && err != errTooLong {
			return err
		}
		if err == nil && len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		c.rows++
		if err == nil {
			err = c.parse(string(b))
		}
		if err == nil {
			return nil
		}
		if !lenient {
			return &rowError{c.path, c.line, err}
		}
		*skipped++
	}
}

// parse parses one data row into c.head.
func (c *csvFile) parse(line string) error {
	c.fields = split(line, c.fields[:0])
	fs := c.fields
	var t time.Time
	var sym market.Symbol
	var price market.Price
	var err error
	if c.format == generic {
		if len(fs) != 3 {
			return fmt.Errorf("%d columns, want 3 (timestamp,symbol,price)", len(fs))
		}
		if t, err = parseTimestamp(fs[0]); err != nil {
			return err
		}
		if sym, err = c.symbol(fs[1]); err != nil {
			return err
		}
		if price, err = market.ParsePrice(fs[2]); err != nil {
			return err
		}
	} else {
		if len(fs) < 6 {
			return fmt.Errorf("%d columns, want 6 or more (Binance kline)", len(fs))
		}
		if t, _, err = parseEpoch(fs[0]); err != nil {
			return fmt.Errorf("open_time %q: %w", fs[0], err)
		}
		if price, err = market.ParsePrice(fs[4]); err != nil {
			return err
		}
		if len(fs) > 6 && fs[6] != "" {
			ct, unit, err := parseEpoch(fs[6])
			if err != nil {
				return fmt.Errorf("close_time %q: %w", fs[6], err)
			}
			if !ct.Before(t) {
				t = ct.Add(unit)
			}
		}
		sym = c.sym
	}
	if t.Before(c.last) {
		return fmt.Errorf("time %s is before the previous row's %s", t.Format(time.RFC3339Nano), c.last.Format(time.RFC3339Nano))
	}
	c.last = t
	c.head = market.Tick{Symbol: sym, Price: price, Time: t, Source: "replay"}
	return nil
}

// readLine returns the next line without its line ending; the bytes are
// valid until the next read. A line of maxLine bytes or more is consumed
// whole and reported as errTooLong. A read error names the file.
func (c *csvFile) readLine() ([]byte, error) {
	b, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = c.r.ReadSlice('\n')
		}
		c.line++
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s: %w", c.path, err)
		}
		return nil, errTooLong
	}
	if err != nil && (err != io.EOF || len(b) == 0) {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read %s: %w", c.path, err)
	}
	c.line++
	b = bytes.TrimSuffix(b, []byte{'\n'})
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if c.line == 1 {
		b = bytes.TrimPrefix(b, []byte("\ufeff"))
	}
	return b, nil
}

func (c *csvFile) close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// symbol parses a symbol field through the file's cache.
func (c *csvFile) symbol(s string) (market.Symbol, error) {
	if sym, ok := c.syms[s]; ok {
		return sym, nil
	}
	sym, err := market.ParseSymbol(s)
	if err != nil {
		return "", err
	}
	if len(c.syms) < maxCachedSymbols {
		c.syms[strings.Clone(s)] = sym // s may pin a whole line
	}
	return sym, nil
}

// symbolFromName reads a symbol from a file name's first token before '-',
// '_' or '.': "BTCUSDT-1m-2024-01.csv" is BTC-USDT. It returns "" when the
// token is not a symbol.
func symbolFromName(path string) market.Symbol {
	name := filepath.Base(path)
	if i := strings.IndexAny(name, "-_."); i >= 0 {
		name = name[:i]
	}
	sym, err := market.ParseSymbol(name)
	if err != nil {
		return ""
	}
	return sym
}

// split appends the comma-separated fields of line to dst, each trimmed of
// spaces and of one pair of surrounding double quotes. It never returns an
// empty slice.
func split(line string, dst []string) []string {
	for {
		field, rest, more := strings.Cut(line, ",")
		dst = append(dst, cleanString(field))
		if !more {
			return dst
		}
		line = rest
	}
}

func cleanString(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

func clean(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = bytes.TrimSpace(b[1 : len(b)-1])
	}
	return b
}
