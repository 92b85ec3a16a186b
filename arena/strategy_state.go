package arena

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The built-in strategies' state, for checkpoints (StrategyState): per
// symbol, the indicators and flags a strategy keeps between ticks, as
// big-endian float64 bits and integers. Their parameters are not saved:
// they come from the agent's params, through the spec's New.

func (m *momentum) MarshalBinary() ([]byte, error) {
	w := stateWriter{}
	w.int(len(m.fast))
	for i := range m.fast {
		w.ema(m.fast[i])
		w.ema(m.slow[i])
	}
	return w, nil
}

func (m *momentum) UnmarshalBinary(b []byte) error {
	r := stateReader{b: b}
	r.symbols(len(m.fast))
	for i := range m.fast {
		m.fast[i].value, m.fast[i].seen = r.ema()
		m.slow[i].value, m.slow[i].seen = r.ema()
	}
	return r.done("momentum")
}

func (c *conservative) MarshalBinary() ([]byte, error) {
	w := stateWriter{}
	w.int(len(c.st))
	for _, st := range c.st {
		w.ema(st.trend)
		w.bool(st.stopped)
	}
	return w, nil
}

func (c *conservative) UnmarshalBinary(b []byte) error {
	r := stateReader{b: b}
	r.symbols(len(c.st))
	for i := range c.st {
		st := &c.st[i]
		st.trend.value, st.trend.seen = r.ema()
		st.stopped = r.bool()
	}
	return r.done("conservative")
}

func (bl *balanced) MarshalBinary() ([]byte, error) {
	w := stateWriter{}
	w.int(len(bl.st))
	for _, st := range bl.st {
		w.ema(st.fast)
		w.ema(st.slow)
		w.float(st.mean)
		w.float(st.vari)
		w.bool(st.fading)
	}
	return w, nil
}

func (bl *balanced) UnmarshalBinary(b []byte) error {
	r := stateReader{b: b}
	r.symbols(len(bl.st))
	for i := range bl.st {
		st := &bl.st[i]
		st.fast.value, st.fast.seen = r.ema()
		st.slow.value, st.slow.seen = r.ema()
		st.mean, st.vari = r.float(), r.float()
		st.fading = r.bool()
	}
	return r.done("balanced")
}

type stateWriter []byte

func (w *stateWriter) int(v int)       { *w = binary.BigEndian.AppendUint64(*w, uint64(v)) }
func (w *stateWriter) float(v float64) { *w = binary.BigEndian.AppendUint64(*w, math.Float64bits(v)) }
func (w *stateWriter) ema(e ema)       { w.float(e.value); w.int(e.seen) }

func (w *stateWriter) bool(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	*w = append(*w, b)
}

// stateReader reads what a stateWriter wrote; the first short read or bad
// value is kept and reported by done.
type stateReader struct {
	b   []byte
	err error
}

var errShortState = errors.New("strategy state too short")

func (r *stateReader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.err = errShortState
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *stateReader) int() int {
	v := r.u64()
	if v > math.MaxInt32 && r.err == nil {
		r.err = fmt.Errorf("strategy state: count %d out of range", v)
	}
	return int(v)
}

func (r *stateReader) float() float64 { return math.Float64frombits(r.u64()) }

func (r *stateReader) ema() (float64, int) {
	v := r.float()
	return v, r.int()
}

func (r *stateReader) bool() bool {
	if r.err != nil {
		return false
	}
	if len(r.b) < 1 || r.b[0] > 1 {
		r.err = errShortState
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

// symbols reads the symbol count and checks it against the strategy's.
func (r *stateReader) symbols(n int) {
	if got := r.int(); r.err == nil && got != n {
		r.err = fmt.Errorf("strategy state for %d symbols, not %d", got, n)
	}
}

func (r *stateReader) done(name string) error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the strategy state", len(r.b))
	}
	if r.err != nil {
		return fmt.Errorf("%s: %w", name, r.err)
	}
	return nil
}
