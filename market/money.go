package market

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Exact fixed-point amounts. Every ledger value is an int64 count of a
// fixed smallest unit, so sums never drift and the same inputs give the same
// result on every machine. Products go through 128-bit intermediates
// (MulDiv), so nothing overflows before the final result does.
//
// The scales were chosen for crypto: a Price of 1e-8 USD resolves sub-cent
// coins, a Qty of 1e-8 units is a satoshi, and Money in micro-dollars keeps
// a 0.1 % fee on a one-dollar trade exact while still holding ±9.2 trillion
// USD.
const (
	MoneyDecimals = 6
	PriceDecimals = 8
	QtyDecimals   = 8
	RateDecimals  = 6

	MoneyScale = 1_000_000      // units of Money per USD
	PriceScale = 100_000_000    // units of Price per USD
	QtyScale   = 100_000_000    // units of Qty per whole coin
	RateScale  = 1_000_000      // units of Rate per 1.0 (parts per million)
	notionalDv = 10_000_000_000 // QtyScale*PriceScale/MoneyScale
)

// Money is an amount of quote currency in micro-units (1e-6 USD).
type Money int64

// Price is quote currency per unit of base in 1e-8 units.
type Price int64

// Qty is an amount of base currency in 1e-8 units; negative is short.
type Qty int64

// Rate is a dimensionless ratio in parts per million: 1000 is 0.1 %.
type Rate int64

// USD returns whole dollars as Money.
func USD(dollars int64) Money { return Money(dollars * MoneyScale) }

// Bps returns a Rate of n basis points (1 bp = 0.01 % = 100 ppm).
func Bps(n int64) Rate { return Rate(n * 100) }

// Percent returns a Rate of n percent.
func Percent(n int64) Rate { return Rate(n * 10_000) }

// MulDiv returns a*b/c computed exactly in 128 bits and truncated toward
// zero. A result beyond the int64 range saturates; c must not be zero.
func MulDiv(a, b, c int64) int64 {
	neg := (a < 0) != (b < 0) != (c < 0)
	ua, ub, uc := abs64(a), abs64(b), abs64(c)
	hi, lo := bits.Mul64(ua, ub)
	if hi == 0 && lo <= math.MaxInt64 {
		if neg {
			return -int64(lo / uc)
		}
		return int64(lo / uc)
	}
	if hi >= uc {
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uc)
	if q > math.MaxInt64 {
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

func abs64(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

// Notional is the value of q at price p, truncated toward zero to the
// micro-dollar. It is negative for a short quantity.
func Notional(q Qty, p Price) Money {
	// Fast path: the product fits in 64 bits and the constant divisor
	// compiles to a multiplication. This runs once per agent per tick.
	hi, lo := bits.Mul64(abs64(int64(q)), abs64(int64(p)))
	if hi == 0 && lo <= math.MaxInt64 {
		v := int64(lo / notionalDv)
		if (q < 0) != (p < 0) {
			return Money(-v)
		}
		return Money(v)
	}
	return Money(MulDiv(int64(q), int64(p), notionalDv))
}

// QtyFor is the largest quantity (toward zero) whose exact value q×p does not
// exceed m, so Notional(QtyFor(m, p), p) never exceeds m either. Because
// Notional truncates, one unit more may still have a truncated notional
// equal to m; QtyFor does not count that sub-micro-dollar remainder as
// spendable. p must be positive.
func QtyFor(m Money, p Price) Qty { return Qty(MulDiv(int64(m), notionalDv, int64(p))) }

// Mul scales m by r, truncating toward zero.
func (m Money) Mul(r Rate) Money { return Money(MulDiv(int64(m), int64(r), RateScale)) }

// Mul scales p by r, truncating toward zero.
func (p Price) Mul(r Rate) Price { return Price(MulDiv(int64(p), int64(r), RateScale)) }

// Mul multiplies two rates (1.05 × 1.10 = 1.155).
func (r Rate) Mul(o Rate) Rate { return Rate(MulDiv(int64(r), int64(o), RateScale)) }

// Float64 returns m in dollars, for display and statistics only.
func (m Money) Float64() float64 { return float64(m) / MoneyScale }

// Float64 returns p in dollars, for indicators and display only.
func (p Price) Float64() float64 { return float64(p) / PriceScale }

// Float64 returns q in whole coins, for display only.
func (q Qty) Float64() float64 { return float64(q) / QtyScale }

// Float64 returns r as a ratio (1000 ppm → 0.001).
func (r Rate) Float64() float64 { return float64(r) / RateScale }

// PriceFromFloat rounds a dollar price to the nearest Price unit. It is for
// generated and provider prices; parse text with ParsePrice to stay exact.
func PriceFromFloat(f float64) Price { return Price(math.Round(f * PriceScale)) }

// MoneyFromFloat rounds dollars to the nearest micro-dollar.
func MoneyFromFloat(f float64) Money { return Money(math.Round(f * MoneyScale)) }

// RateFromFloat rounds a ratio to the nearest part per million.
func RateFromFloat(f float64) Rate { return Rate(math.Round(f * RateScale)) }

func (m Money) String() string { return formatFixed(int64(m), MoneyDecimals, 2) }
func (p Price) String() string { return formatFixed(int64(p), PriceDecimals, 2) }
func (q Qty) String() string   { return formatFixed(int64(q), QtyDecimals, 0) }
func (r Rate) String() string  { return formatFixed(int64(r), RateDecimals, 0) }

// Cents returns m rounded half away from zero to whole cents, as text with
// two decimals ("115000.50").
func (m Money) Cents() string {
	const unit = MoneyScale / 100
	v := int64(m)
	r := (abs64(v) + unit/2) / unit
	s := strconv.FormatUint(r/100, 10) + "." + fmt.Sprintf("%02d", r%100)
	if v < 0 && r != 0 {
		return "-" + s
	}
	return s
}

// MarshalText writes the exact decimal value, so JSON and CSV reports carry
// every digit.
func (m Money) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
func (p Price) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
func (q Qty) MarshalText() ([]byte, error)   { return []byte(q.String()), nil }

// UnmarshalText parses an exact decimal such as "100000" or "0.5".
func (m *Money) UnmarshalText(b []byte) error {
	v, err := parseFixed(string(b), MoneyDecimals)
	*m = Money(v)
	return err
}

// ParseMoney parses a decimal dollar amount exactly.
func ParseMoney(s string) (Money, error) {
	v, err := parseFixed(s, MoneyDecimals)
	return Money(v), err
}

// ParseMoneyExact parses a decimal dollar amount and refuses one with
// digits finer than the money resolution (0.000001) instead of rounding
// it: for amounts a user writes, where a silent rounding would surprise.
func ParseMoneyExact(s string) (Money, error) {
	v, inexact, err := parseFixedExact(s, MoneyDecimals)
	if err != nil {
		return 0, err
	}
	if inexact {
		return 0, fmt.Errorf("%q: finer than the money resolution %s", s, formatFixed(1, MoneyDecimals, 0))
	}
	return Money(v), nil
}

// ParsePrice parses a decimal price exactly. Digits beyond the eighth
// decimal are rounded half up; exponents ("4.5e4") are accepted and rounded.
// Zero, negative and non-finite prices are errors; so is a positive price
// that rounds to zero, below the resolution 0.00000001.
func ParsePrice(s string) (Price, error) {
	v, inexact, err := parseFixedExact(s, PriceDecimals)
	if err != nil {
		return 0, fmt.Errorf("price %w", err)
	}
	if v == 0 && inexact && !strings.HasPrefix(strings.TrimSpace(s), "-") {
		return 0, fmt.Errorf("price %q: below the price resolution %s", s, formatFixed(1, PriceDecimals, 0))
	}
	if v <= 0 {
		return 0, fmt.Errorf("price %q: must be positive", s)
	}
	return Price(v), nil
}

// ErrDecimal reports text that is not a decimal number.
var ErrDecimal = errors.New("not a decimal number")

// parseFixed parses s as a decimal with at most `decimals` fractional digits
// kept (the rest rounded half up), returning the scaled integer.
func parseFixed(s string, decimals int) (int64, error) {
	v, _, err := parseFixedExact(s, decimals)
	return v, err
}

// parseFixedExact is parseFixed that also reports whether a non-zero digit
// past the kept decimals was rounded away (inexact).
func parseFixedExact(s string, decimals int) (int64, bool, error) {
	t := strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(t, "-"):
		neg, t = true, t[1:]
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	}
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		var ok bool
		if t, ok = shiftExp(t[:i], t[i+1:]); !ok {
			return 0, false, fmt.Errorf("%q: %w", s, ErrDecimal)
		}
	}
	intPart, frac, _ := strings.Cut(t, ".")
	if intPart == "" && frac == "" {
		return 0, false, fmt.Errorf("%q: %w", s, ErrDecimal)
	}
	var v uint64
	inexact := false
	digit := func(c byte) (uint64, bool) { return uint64(c - '0'), c >= '0' && c <= '9' }
	const limit = math.MaxInt64 / 10
	for i := 0; i < len(intPart); i++ {
		d, ok := digit(intPart[i])
		if !ok {
			return 0, false, fmt.Errorf("%q: %w", s, ErrDecimal)
		}
		if v > limit {
			return 0, false, fmt.Errorf("%q: out of range", s)
		}
		v = v*10 + d
	}
	roundUp := false
	for i := 0; i < len(frac); i++ {
		d, ok := digit(frac[i])
		if !ok {
			return 0, false, fmt.Errorf("%q: %w", s, ErrDecimal)
		}
		switch {
		case i < decimals:
			if v > limit {
				return 0, false, fmt.Errorf("%q: out of range", s)
			}
			v = v*10 + d
		case i == decimals:
			roundUp = d >= 5
			inexact = inexact || d != 0
		default:
			inexact = inexact || d != 0
		}
	}
	for i := len(frac); i < decimals; i++ {
		if v > limit {
			return 0, false, fmt.Errorf("%q: out of range", s)
		}
		v *= 10
	}
	if roundUp {
		v++
	}
	// -2^63 is representable (MulDiv saturates to it), +2^63 is not.
	if v > math.MaxInt64+1 || v == math.MaxInt64+1 && !neg {
		return 0, false, fmt.Errorf("%q: out of range", s)
	}
	if neg {
		return -int64(v), inexact, nil // wraps to math.MinInt64 for v == 2^63
	}
	return int64(v), inexact, nil
}

// maxExp bounds the exponent shiftExp accepts, so "1e999999999" cannot make
// it build a huge string; float64 itself stops at 1e308.
const maxExp = 400

// shiftExp rewrites the unsigned mantissa mant times 10^exp as a plain
// decimal ("1.5", "-8" → "0.000000015"), so exponent input is parsed by the
// same exact digit loop as plain input. It reports false for an empty
// mantissa or an exponent that is not an integer within ±maxExp; other
// garbage in mant is left for the digit loop to reject.
func shiftExp(mant, exp string) (string, bool) {
	e, err := strconv.Atoi(exp)
	intPart, frac, _ := strings.Cut(mant, ".")
	if err != nil || e < -maxExp || e > maxExp || intPart == "" && frac == "" {
		return "", false
	}
	digits := intPart + frac
	switch point := len(intPart) + e; {
	case point <= 0:
		return "0." + strings.Repeat("0", -point) + digits, true
	case point >= len(digits):
		return digits + strings.Repeat("0", point-len(digits)), true
	default:
		return digits[:point] + "." + digits[point:], true
	}
}

// formatFixed writes v/10^decimals exactly, trimming trailing zeros but
// keeping at least minFrac fractional digits.
func formatFixed(v int64, decimals, minFrac int) string {
	u := abs64(v)
	scale := uint64(math.Pow10(decimals))
	whole, frac := u/scale, u%scale
	fs := fmt.Sprintf("%0*d", decimals, frac)
	end := len(fs)
	for end > minFrac && fs[end-1] == '0' {
		end--
	}
	s := strconv.FormatUint(whole, 10)
	if end > 0 {
		s += "." + fs[:end]
	}
	if v < 0 {
		return "-" + s
	}
	return s
}

// MarshalJSON writes the exact value as a JSON number (115000.5), which
// keeps every digit; decode it with UnmarshalJSON, not through float64.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }
func (p Price) MarshalJSON() ([]byte, error) { return []byte(p.String()), nil }
func (q Qty) MarshalJSON() ([]byte, error)   { return []byte(q.String()), nil }

// UnmarshalJSON accepts a JSON number or a quoted decimal, exactly.
func (m *Money) UnmarshalJSON(b []byte) error {
	v, err := unmarshalFixed(b, MoneyDecimals, "money")
	*m = Money(v)
	return err
}

// UnmarshalJSON accepts a JSON number or a quoted decimal, exactly.
func (q *Qty) UnmarshalJSON(b []byte) error {
	v, err := unmarshalFixed(b, QtyDecimals, "qty")
	*q = Qty(v)
	return err
}

func unmarshalFixed(b []byte, decimals int, what string) (int64, error) {
	v, err := parseFixed(strings.Trim(string(b), `"`), decimals)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", what, b, err)
	}
	return v, nil
}

// UnmarshalJSON accepts a JSON number or a quoted decimal, exactly.
func (p *Price) UnmarshalJSON(b []byte) error {
	v, err := ParsePrice(strings.Trim(string(b), `"`))
	*p = v
	return err
}
