package market_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/market"
)

const (
	minI = math.MinInt64
	maxI = math.MaxInt64
)

// newRand returns the deterministic source every property test draws from.
func newRand(t testing.TB, seed uint64) *rand.Rand {
	t.Helper()
	return rand.New(rand.NewPCG(seed, 0x1ea6e))
}

// randBits returns a value of a random bit length up to maxBits, so small,
// medium and huge magnitudes are all common (a uniform int64 is almost
// always huge).
func randBits(r *rand.Rand, maxBits int) int64 {
	n := r.IntN(maxBits + 1)
	return int64(r.Uint64() >> (64 - n) >> 1) // n == 0 gives 0
}

// randSigned is randBits with a random sign, plus the extremes now and then.
func randSigned(r *rand.Rand) int64 {
	switch r.IntN(50) {
	case 0:
		return minI
	case 1:
		return maxI
	}
	v := randBits(r, 64)
	if r.IntN(2) == 0 {
		return -v
	}
	return v
}

// refMulDiv is MulDiv computed with math/big: truncated toward zero, then
// saturated to the int64 range.
func refMulDiv(a, b, c int64) int64 {
	q := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	q.Quo(q, big.NewInt(c)) // Quo truncates toward zero
	switch {
	case q.Cmp(big.NewInt(maxI)) > 0:
		return maxI
	case q.Cmp(big.NewInt(minI)) < 0:
		return minI
	}
	return q.Int64()
}

func TestMulDiv(t *testing.T) {
	tests := []struct {
		name    string
		a, b, c int64
		want    int64
	}{
		{"exact", 6, 7, 2, 21},
		{"zero", 0, 5, 3, 0},
		{"zero negative factor", 0, -5, 3, 0},
		{"truncates", 7, 1, 2, 3},
		{"negative a truncates toward zero", -7, 1, 2, -3},
		{"negative b truncates toward zero", 7, -1, 2, -3},
		{"negative c truncates toward zero", 7, 1, -2, -3},
		{"two negatives", -7, -1, 2, 3},
		{"negative a and c", -7, 1, -2, 3},
		{"three negatives", -7, -1, -2, -3},
		{"below one positive", 1, 1, 2, 0},
		{"below one negative", -1, 1, 2, 0},

		// Products a naive int64 a*b would overflow.
		{"2^65 product", 1 << 62, 8, 16, 1 << 61},
		{"max squared over max", maxI, maxI, maxI, maxI},
		{"max*3/7 truncated", maxI, 3, 7, 3952873730080618203},
		{"max*(2^62+1)/(2^62+3) truncated", maxI, 1<<62 + 1, 1<<62 + 3, 9223372036854775803},
		{"negative 128-bit", -maxI, 3, 7, -3952873730080618203},
		{"product in (2^63, 2^64)", 1 << 62, 3, 2, 3 << 61},
		{"product in (2^63, 2^64) negative", 1 << 62, -3, 2, -(3 << 61)},
		{"1e18*1e10/1e10", 1e18, 1e10, 1e10, 1e18},
		{"min int identity", minI, 1, 1, minI},
		{"min int times -1 over -1", minI, -1, -1, minI},
		{"min int halved", minI, 1, 2, minI / 2},
		{"min int over min int", minI, 5, minI, 5},

		// Results beyond int64 saturate.
		{"saturates high, quotient >= 2^64", 1 << 40, 1 << 40, 1, maxI},
		{"saturates high, quotient in (2^63, 2^64)", maxI, 3, 2, maxI},
		{"saturates high from two negatives", minI, minI, 1, maxI},
		{"saturates -min int", minI, -1, 1, maxI},
		{"saturates low", maxI, -2, 1, minI},
		{"saturates low, negative c", maxI, 2, -1, minI},
		{"saturates low from min int", minI, minI, -1, minI},
		{"just fits at max", maxI, 2, 2, maxI},
		{"just fits at min", minI, 2, 2, minI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := market.MulDiv(tt.a, tt.b, tt.c); got != tt.want {
				t.Errorf("MulDiv(%d, %d, %d) = %d, want %d", tt.a, tt.b, tt.c, got, tt.want)
			}
			if ref := refMulDiv(tt.a, tt.b, tt.c); ref != tt.want {
				t.Errorf("table is wrong: big reference gives %d, table says %d", ref, tt.want)
			}
		})
	}
}

func TestMulDivMatchesBig(t *testing.T) {
	r := newRand(t, 1)
	for range 200_000 {
		a, b, c := randSigned(r), randSigned(r), randSigned(r)
		if c == 0 {
			c = 1
		}
		if got, want := market.MulDiv(a, b, c), refMulDiv(a, b, c); got != want {
			t.Fatalf("MulDiv(%d, %d, %d) = %d, want %d", a, b, c, got, want)
		}
	}
}

// refNotional is q×p in micro-dollars computed with math/big.
func refNotional(q market.Qty, p market.Price) market.Money {
	return market.Money(refMulDiv(int64(q), int64(p), market.QtyScale*market.PriceScale/market.MoneyScale))
}

func TestNotional(t *testing.T) {
	tests := []struct {
		name string
		q    market.Qty
		p    market.Price
		want market.Money
	}{
		{"one coin at 100k", 1 * market.QtyScale, 100_000 * market.PriceScale, market.USD(100_000)},
		{"half a coin", market.QtyScale / 2, 115_000_50_000_000, 57_500_250_000},
		{"short", -market.QtyScale / 2, 115_000_50_000_000, -57_500_250_000},
		{"zero qty", 0, 100 * market.PriceScale, 0},
		{"one satoshi at 100k", 1, 100_000 * market.PriceScale, 1_000},
		{"truncates to zero", 1, 1, 0},
		{"truncates just below a micro-dollar", 1, 1e10 - 1, 0},
		{"one micro-dollar", 1, 1e10, 1},
		{"short truncates toward zero", -1, 1e10 - 1, 0},
		{"short one micro-dollar", -1, 1e10, -1},
		{"short truncation", -3, 1e10 - 1, -2},
		{"largest fast-path product", 1, maxI, 922_337_203},
		// 10,000 coins at $10M: q×p = 1e27, far above 2^63.
		{"slow path exact", 10_000 * market.QtyScale, 10_000_000 * market.PriceScale, market.USD(100_000_000_000)},
		{"slow path short", -10_000 * market.QtyScale, 10_000_000 * market.PriceScale, -market.USD(100_000_000_000)},
		{"slow path truncation", 3 * market.QtyScale, 33_333_333_333_333, 999_999_999_999},
		{"saturates high", maxI, maxI, maxI},
		{"saturates low", minI, maxI, minI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := market.Notional(tt.q, tt.p); got != tt.want {
				t.Errorf("Notional(%d, %d) = %d, want %d", tt.q, tt.p, got, tt.want)
			}
			if ref := refNotional(tt.q, tt.p); ref != tt.want {
				t.Errorf("table is wrong: big reference gives %d, table says %d", ref, tt.want)
			}
		})
	}
}

// TestNotionalMatchesBig checks that the fast path (product fits in 63 bits)
// and the 128-bit path agree with an exact reference, long and short.
func TestNotionalMatchesBig(t *testing.T) {
	r := newRand(t, 2)
	fast, slow := 0, 0
	limit := new(big.Int).SetUint64(math.MaxInt64)
	for range 300_000 {
		q := market.Qty(randSigned(r))
		p := market.Price(randBits(r, 63))
		if p == 0 {
			p = 1
		}
		prod := new(big.Int).Mul(big.NewInt(int64(q)), big.NewInt(int64(p)))
		if prod.CmpAbs(limit) <= 0 {
			fast++
		} else {
			slow++
		}
		if got, want := market.Notional(q, p), refNotional(q, p); got != want {
			t.Fatalf("Notional(%d, %d) = %d, want %d", q, p, got, want)
		}
	}
	if fast < 10_000 || slow < 10_000 {
		t.Errorf("inputs exercised fast path %d and slow path %d times, want both often", fast, slow)
	}
}

func TestQtyFor(t *testing.T) {
	tests := []struct {
		name string
		m    market.Money
		p    market.Price
		want market.Qty
	}{
		{"whole coins", market.USD(100), 50 * market.PriceScale, 2 * market.QtyScale},
		{"truncates", market.USD(1), 3 * market.PriceScale, 33_333_333},
		{"short budget", -market.USD(100), 50 * market.PriceScale, -2 * market.QtyScale},
		{"nothing", 0, 50 * market.PriceScale, 0},
		{"one satoshi", 1_000, 100_000 * market.PriceScale, 1},
		{"less than a satoshi", 999, 100_000 * market.PriceScale, 0},
		{"big budget (128-bit)", market.USD(1_000_000_000), market.PriceScale, 1_000_000_000 * market.QtyScale},
		{"saturates", maxI, 1, maxI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := market.QtyFor(tt.m, tt.p); got != tt.want {
				t.Errorf("QtyFor(%d, %d) = %d, want %d", tt.m, tt.p, got, tt.want)
			}
		})
	}
}

// TestQtyForIsLargestAffordable checks QtyFor's contract for many budgets
// and prices: its notional never exceeds the money, the exact value of one
// unit more does, and so one unit more's truncated notional is at least the
// money.
func TestQtyForIsLargestAffordable(t *testing.T) {
	r := newRand(t, 3)
	dv := big.NewInt(market.QtyScale * market.PriceScale / market.MoneyScale)
	for range 200_000 {
		// Budgets up to ~$1.1M and prices from 1e-8 to ~$92B, bounded so
		// that the quantity itself cannot saturate.
		m := market.Money(randBits(r, 40))
		p := market.Price(randBits(r, 63))
		if p < 1<<20 {
			p += 1 << 20
		}
		q := market.QtyFor(m, p)
		if n := market.Notional(q, p); n > m {
			t.Fatalf("Notional(QtyFor(%d, %d) = %d) = %d, exceeds the money", m, p, q, n)
		}
		if q < 0 {
			t.Fatalf("QtyFor(%d, %d) = %d, want non-negative", m, p, q)
		}
		exact := new(big.Int).Mul(big.NewInt(int64(q)+1), big.NewInt(int64(p)))
		budget := new(big.Int).Mul(big.NewInt(int64(m)), dv)
		if exact.Cmp(budget) <= 0 {
			t.Fatalf("QtyFor(%d, %d) = %d, but %d units still cost %v ≤ %v (1e-16 USD)", m, p, q, q+1, exact, budget)
		}
		if n := market.Notional(q+1, p); n < m {
			t.Fatalf("QtyFor(%d, %d) = %d, but %d units have notional %d < money", m, p, q, q+1, n)
		}
		// The contract is symmetric for a negative budget.
		if qn := market.QtyFor(-m, p); qn != -q {
			t.Fatalf("QtyFor(%d, %d) = %d, want %d", -m, p, qn, -q)
		}
	}
}

// TestQtyForKeepsTruncatedRemainder pins the edge the doc comment names:
// one unit more than QtyFor may have a truncated notional equal to the money,
// but QtyFor does not spend that sub-micro-dollar remainder.
func TestQtyForKeepsTruncatedRemainder(t *testing.T) {
	p := 150 * market.PriceScale // one unit is worth 1.5 micro-dollars
	if got := market.QtyFor(1, market.Price(p)); got != 0 {
		t.Errorf("QtyFor(1µ$, $150) = %d, want 0: one unit is worth 1.5µ$", got)
	}
	if got := market.Notional(1, market.Price(p)); got != 1 {
		t.Errorf("Notional(1, $150) = %d, want 1 (truncated)", got)
	}
}

func TestMul(t *testing.T) {
	t.Run("money", func(t *testing.T) {
		tests := []struct {
			m    market.Money
			r    market.Rate
			want market.Money
		}{
			{market.USD(1), market.Bps(10), 1_000},
			{market.USD(100_000), market.Bps(10), market.USD(100)},
			{999, market.Bps(10), 0},
			{-1_500, market.Bps(10), -1},
			{market.USD(5), -market.Percent(50), -2_500_000},
			{market.USD(1_000_000_000_000), market.Percent(200), market.USD(2_000_000_000_000)}, // 2e24 intermediate
			{maxI, market.Percent(200), maxI},
			{minI, market.Percent(200), minI},
			{market.USD(7), 0, 0},
		}
		for _, tt := range tests {
			if got := tt.m.Mul(tt.r); got != tt.want {
				t.Errorf("Money(%d).Mul(%d) = %d, want %d", tt.m, tt.r, got, tt.want)
			}
		}
	})
	t.Run("price", func(t *testing.T) {
		tests := []struct {
			p    market.Price
			r    market.Rate
			want market.Price
		}{
			{100 * market.PriceScale, market.Percent(105), 105 * market.PriceScale},
			{100 * market.PriceScale, market.Bps(-25), -25_000_000},
			{3, market.Percent(50), 1},
			{maxI, market.Percent(100), maxI},
			{maxI, market.Percent(101), maxI},
		}
		for _, tt := range tests {
			if got := tt.p.Mul(tt.r); got != tt.want {
				t.Errorf("Price(%d).Mul(%d) = %d, want %d", tt.p, tt.r, got, tt.want)
			}
		}
	})
	t.Run("rate", func(t *testing.T) {
		tests := []struct {
			r, o, want market.Rate
		}{
			{1_050_000, 1_100_000, 1_155_000},
			{market.Percent(50), market.Percent(50), market.Percent(25)},
			{1, 1, 0},
			{-market.Percent(10), market.Percent(10), -market.Percent(1)},
		}
		for _, tt := range tests {
			if got := tt.r.Mul(tt.o); got != tt.want {
				t.Errorf("Rate(%d).Mul(%d) = %d, want %d", tt.r, tt.o, got, tt.want)
			}
		}
	})
}

func TestConstructors(t *testing.T) {
	tests := []struct {
		name      string
		got, want int64
	}{
		{"USD", int64(market.USD(3)), 3_000_000},
		{"USD negative", int64(market.USD(-3)), -3_000_000},
		{"Bps", int64(market.Bps(10)), 1_000},
		{"Percent", int64(market.Percent(5)), 50_000},
		{"PriceFromFloat", int64(market.PriceFromFloat(115_000.5)), 11_500_050_000_000},
		{"PriceFromFloat rounds", int64(market.PriceFromFloat(0.0000000151)), 2},
		{"MoneyFromFloat", int64(market.MoneyFromFloat(0.1)), 100_000},
		{"MoneyFromFloat negative", int64(market.MoneyFromFloat(-0.1)), -100_000},
		{"RateFromFloat", int64(market.RateFromFloat(0.001)), 1_000},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	floats := []struct {
		name      string
		got, want float64
	}{
		{"Money", market.USD(2).Float64() + market.Money(500_000).Float64(), 2.5},
		{"Price", market.Price(150_000_000).Float64(), 1.5},
		{"Qty", market.Qty(-50_000_000).Float64(), -0.5},
		{"Rate", market.Bps(10).Float64(), 0.001},
	}
	for _, tt := range floats {
		if tt.got != tt.want {
			t.Errorf("%s.Float64() = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in   string
		want market.Money
	}{
		{"0", 0},
		{"-0", 0},
		{"1", 1_000_000},
		{"1.5", 1_500_000},
		{"-1.5", -1_500_000},
		{"+2", 2_000_000},
		{" 3 ", 3_000_000},
		{".5", 500_000},
		{"5.", 5_000_000},
		{"007.250", 7_250_000},
		{"0.000001", 1},
		{"115000.50", 115_000_500_000},
		{"0.0000005", 1},       // half rounds up at the 7th digit
		{"0.0000004999999", 0}, // only the 7th digit decides
		{"-0.0000005", -1},     // half rounds away from zero
		{"0.00000149", 1},      // 8th digit ignored
		{"1e3", 1_000_000_000}, // exponent
		{"1.5E-6", 2},          // exact half in exponent form
		{"-2.5e-6", -3},        // negative exponent form
		{"1.234e+2", 123_400_000},
		{"0.5e1", 5_000_000},
		{"12345e-4", 1_234_500},
		{"1e-400", 0}, // the smallest exponent accepted
		{"9223372036854.775807", maxI},
		{"-9223372036854.775808", minI},
		{"9223372036854775807e-6", maxI},
		{"0.000000000000000000000000000001", 0},
	}
	for _, tt := range tests {
		got, err := market.ParseMoney(tt.in)
		if err != nil {
			t.Errorf("ParseMoney(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseMoney(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParsePrice(t *testing.T) {
	tests := []struct {
		in   string
		want market.Price
	}{
		{"115000.50", 11_500_050_000_000},
		{"1", market.PriceScale},
		{"0.00000001", 1},
		{"0.000000015", 2},        // the 9th digit rounds half up
		{"0.000000014999", 1},     // and only the 9th digit decides
		{"0.123456785", 12345679}, // carry into the 8th digit
		{"0.123456784999", 12345678},
		{"0.999999995", market.PriceScale}, // carry through every digit
		{"4.5e4", 4_500_000_000_000},
		{"1.5e-8", 2}, // the same rounding as the plain spelling
		{"2.5e-8", 3},
		{"6.5E-5", 6_500},
		{"1.23456789012e-5", 1_235},
		{"123456789.123456789e0", 12_345_678_912_345_679}, // more digits than a float64 holds
		{"92233720368.54775807", maxI},
		{"92233720368.54775807e0", maxI},
		{"9223372036854775807e-8", maxI},
		{"+1", market.PriceScale},
	}
	for _, tt := range tests {
		got, err := market.ParsePrice(tt.in)
		if err != nil {
			t.Errorf("ParsePrice(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParsePrice(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestParseExponentMatchesPlain spells random prices with exponents and
// checks that they parse to the same integer as the plain decimal.
func TestParseExponentMatchesPlain(t *testing.T) {
	r := newRand(t, 4)
	for range 50_000 {
		p := market.Price(randBits(r, 63))
		if p == 0 {
			p = 1
		}
		plain := p.String()
		intPart, frac, _ := strings.Cut(plain, ".")
		digits := strings.TrimLeft(intPart+frac, "0")
		spellings := []string{
			"0." + digits + fmt.Sprintf("e%d", len(digits)-len(frac)),
			digits + fmt.Sprintf("E-%d", len(frac)),
			fmt.Sprintf("%se+0", plain),
		}
		for _, s := range spellings {
			got, err := market.ParsePrice(s)
			if err != nil || got != p {
				t.Fatalf("ParsePrice(%q) = %d, %v; want %d (from %q)", s, got, err, p, plain)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	garbage := []string{
		"", " ", "-", "+", ".", "-.", "abc", "1,000", "1.2.3", "--1", "+-1", "1-",
		"1e", "e5", "-e5", ".e1", "1e5.5", "1e+", "1ee5", "1e5e5", "1e0x10", "1e401",
		"NaN", "Inf", "-Inf", "infinity", "0x10", "1_000", "1 000", "$5", "5$", "１",
		"true", "null", `"1"`,
	}
	for _, s := range garbage {
		if got, err := market.ParseMoney(s); err == nil {
			t.Errorf("ParseMoney(%q) = %d, want an error", s, got)
		}
		if got, err := market.ParsePrice(s); err == nil {
			t.Errorf("ParsePrice(%q) = %d, want an error", s, got)
		}
	}
	overflow := []string{
		"9223372036854.775808", "9223372036854.7758075", "-9223372036854.775809",
		"99999999999999999999", "1e20", "-1e20", "1e400", "9223372036854775808e-6",
	}
	for _, s := range overflow {
		if got, err := market.ParseMoney(s); err == nil {
			t.Errorf("ParseMoney(%q) = %d, want an out-of-range error", s, got)
		}
	}
	nonPositive := []string{"0", "0.0", "-0", "-1", "-0.00000001", "0.000000004", "1e-9", "-4.5e4"}
	for _, s := range nonPositive {
		if got, err := market.ParsePrice(s); err == nil {
			t.Errorf("ParsePrice(%q) = %d, want a non-positive error", s, got)
		}
	}
	for _, s := range []string{"92233720368.54775808", "92233720368.547758075", "1e11"} {
		if got, err := market.ParsePrice(s); err == nil {
			t.Errorf("ParsePrice(%q) = %d, want an out-of-range error", s, got)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		v    fmt.Stringer
		want string
	}{
		{"money zero", market.Money(0), "0.00"},
		{"money micro", market.Money(1), "0.000001"},
		{"money ten micro", market.Money(10), "0.00001"},
		{"money whole", market.USD(1), "1.00"},
		{"money half", market.Money(1_500_000), "1.50"},
		{"money trailing zeros trimmed", market.Money(123_450_000), "123.45"},
		{"money all digits", market.Money(123_456_789), "123.456789"},
		{"money big", market.Money(115_000_500_000), "115000.50"},
		{"money negative micro", market.Money(-1), "-0.000001"},
		{"money negative", market.Money(-1_500_000), "-1.50"},
		{"money max", market.Money(maxI), "9223372036854.775807"},
		{"money min", market.Money(minI), "-9223372036854.775808"},
		{"price unit", market.Price(1), "0.00000001"},
		{"price whole", market.Price(market.PriceScale), "1.00"},
		{"price", market.Price(11_500_050_000_000), "115000.50"},
		{"price digits", market.Price(12_345_678), "0.12345678"},
		{"price negative", market.Price(-1), "-0.00000001"},
		{"qty zero", market.Qty(0), "0"},
		{"qty whole", market.Qty(market.QtyScale), "1"},
		{"qty half", market.Qty(50_000_000), "0.5"},
		{"qty satoshis", market.Qty(123), "0.00000123"},
		{"qty short", market.Qty(-150_000_000), "-1.5"},
		{"rate", market.Bps(10), "0.001"},
		{"rate one", market.Rate(market.RateScale), "1"},
		{"rate zero", market.Rate(0), "0"},
		{"rate negative", market.Rate(-500_000), "-0.5"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCents(t *testing.T) {
	tests := []struct {
		m    market.Money
		want string
	}{
		{0, "0.00"},
		{4_999, "0.00"},
		{5_000, "0.01"}, // half a cent rounds away from zero
		{-4_999, "0.00"},
		{-5_000, "-0.01"},
		{-1, "0.00"}, // no negative zero
		{market.USD(7), "7.00"},
		{115_000_500_000, "115000.50"},
		{115_000_504_999, "115000.50"},
		{115_000_505_000, "115000.51"},
		{-115_000_505_000, "-115000.51"},
		{1_995_000, "2.00"}, // carry into dollars
		{-1_995_000, "-2.00"},
		{maxI, "9223372036854.78"},
		{minI, "-9223372036854.78"},
	}
	for _, tt := range tests {
		if got := tt.m.Cents(); got != tt.want {
			t.Errorf("Money(%d).Cents() = %q, want %q", tt.m, got, tt.want)
		}
	}
}

type amounts struct {
	M market.Money `json:"m"`
	P market.Price `json:"p"`
	Q market.Qty   `json:"q"`
}

func TestJSONRoundTrip(t *testing.T) {
	r := newRand(t, 5)
	check := func(in amounts) {
		t.Helper()
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("marshal %+v: %v", in, err)
		}
		var out amounts
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if out != in {
			t.Fatalf("round trip of %+v through %s gave %+v", in, b, out)
		}
		if strings.Contains(string(b), `"m":"`) {
			t.Fatalf("money marshalled as a string in %s, want a number", b)
		}
	}
	check(amounts{M: minI, P: maxI, Q: minI})
	check(amounts{M: maxI, P: 1, Q: maxI})
	check(amounts{M: 0, P: 1, Q: 0})
	check(amounts{M: -1, P: 2, Q: -1})
	for range 100_000 {
		p := market.Price(randBits(r, 63))
		if p == 0 {
			p = 1
		}
		check(amounts{M: market.Money(randSigned(r)), P: p, Q: market.Qty(randSigned(r))})
	}
}

func TestMarshalText(t *testing.T) {
	r := newRand(t, 6)
	for range 10_000 {
		m := market.Money(randSigned(r))
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got market.Money
		if err := got.UnmarshalText(b); err != nil || got != m {
			t.Fatalf("UnmarshalText(%s) = %d, %v; want %d", b, got, err, m)
		}
	}
	p, _ := market.Price(11_500_050_000_000).MarshalText()
	q, _ := market.Qty(50_000_000).MarshalText()
	if string(p) != "115000.50" || string(q) != "0.5" {
		t.Errorf("MarshalText gave %q and %q, want 115000.50 and 0.5", p, q)
	}
}

func TestUnmarshalJSON(t *testing.T) {
	var a amounts
	in := `{"m":"-1.5","p":"115000.5","q":1}`
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatalf("unmarshal %s: %v", in, err)
	}
	want := amounts{M: -1_500_000, P: 11_500_050_000_000, Q: market.QtyScale}
	if a != want {
		t.Errorf("unmarshal %s = %+v, want %+v", in, a, want)
	}
	bad := []string{
		`{"m":"abc"}`, `{"m":1e20}`, `{"m":true}`,
		`{"p":0}`, `{"p":-1}`, `{"p":"x"}`,
		`{"q":"0.5.5"}`, `{"q":1e20}`,
	}
	for _, in := range bad {
		var a amounts
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("unmarshal %s = %+v, want an error", in, a)
		}
	}
}
