package decimalbench

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lineage-arena/lineage/market"
	"github.com/shopspring/decimal"
)

// nFills is how many pre-generated fills a benchmark cycles through; a power
// of two so the index is a mask.
const nFills = 1 << 12

// fills holds the same fills in the three representations, converted once,
// so no benchmark pays for parsing or conversion.
type fills struct {
	q   []market.Qty
	p   []market.Price
	dq  []decimal.Decimal
	dp  []decimal.Decimal
	fq  []float64
	fpx []float64
}

// genFills returns nFills buys and sells of up to 10 coins at prices from
// $0.01 to $100,000, drawn from a seeded PCG.
func genFills() fills {
	r := rand.New(rand.NewPCG(42, 0x1ea6e))
	var f fills
	for range nFills {
		q := 1 + r.Int64N(10*market.QtyScale)
		if r.IntN(2) == 0 {
			q = -q // a sell
		}
		p := market.PriceScale/100 + r.Int64N(100_000*market.PriceScale)
		f.q = append(f.q, market.Qty(q))
		f.p = append(f.p, market.Price(p))
		f.dq = append(f.dq, decimal.New(q, -market.QtyDecimals))
		f.dp = append(f.dp, decimal.New(p, -market.PriceDecimals))
		f.fq = append(f.fq, float64(q)/market.QtyScale)
		f.fpx = append(f.fpx, float64(p)/market.PriceScale)
	}
	return f
}

// The ledger operation, per fill:
//
//	notional = qty × price        (signed: a buy is positive)
//	fee      = |notional| × 0.001
//	cash    -= fee
//	pnl     -= notional           (cash-flow P&L: sells add, buys subtract)
//
// The fixed-point and rounded-decimal ledgers truncate the notional and the
// fee to the micro-dollar, so their results are identical.

var (
	feeRate = market.Bps(10)
	feeDec  = decimal.New(1, -3)
)

type fixedLedger struct{ cash, pnl market.Money }

func (l *fixedLedger) fill(q market.Qty, p market.Price) {
	n := market.Notional(q, p)
	a := n
	if a < 0 {
		a = -a
	}
	l.cash -= a.Mul(feeRate)
	l.pnl -= n
}

type decimalLedger struct{ cash, pnl decimal.Decimal }

func (l *decimalLedger) fill(q, p decimal.Decimal) {
	n := q.Mul(p).Truncate(market.MoneyDecimals)
	l.cash = l.cash.Sub(n.Abs().Mul(feeDec).Truncate(market.MoneyDecimals))
	l.pnl = l.pnl.Sub(n)
}

// fillExact keeps every digit: the cheapest decimal can do, though a ledger
// must round somewhere.
func (l *decimalLedger) fillExact(q, p decimal.Decimal) {
	n := q.Mul(p)
	l.cash = l.cash.Sub(n.Abs().Mul(feeDec))
	l.pnl = l.pnl.Sub(n)
}

type floatLedger struct{ cash, pnl float64 }

func (l *floatLedger) fill(q, p float64) {
	n := q * p
	l.cash -= math.Abs(n) * 0.001
	l.pnl -= n
}

var startCash = market.USD(1_000_000_000)

// sink keeps benchmark results alive.
var sink any

func BenchmarkLedger(b *testing.B) {
	f := genFills()
	b.Run("fixed", func(b *testing.B) {
		b.ReportAllocs()
		l := fixedLedger{cash: startCash}
		i := 0
		for b.Loop() {
			j := i & (nFills - 1)
			l.fill(f.q[j], f.p[j])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fills/s")
		sink = l
	})
	b.Run("decimal", func(b *testing.B) {
		b.ReportAllocs()
		l := decimalLedger{cash: decimal.New(int64(startCash), -market.MoneyDecimals)}
		i := 0
		for b.Loop() {
			j := i & (nFills - 1)
			l.fill(f.dq[j], f.dp[j])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fills/s")
		sink = l
	})
	b.Run("decimal-unrounded", func(b *testing.B) {
		b.ReportAllocs()
		l := decimalLedger{cash: decimal.New(int64(startCash), -market.MoneyDecimals)}
		i := 0
		for b.Loop() {
			j := i & (nFills - 1)
			l.fillExact(f.dq[j], f.dp[j])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fills/s")
		sink = l
	})
	b.Run("float64", func(b *testing.B) {
		b.ReportAllocs()
		l := floatLedger{cash: startCash.Float64()}
		i := 0
		for b.Loop() {
			j := i & (nFills - 1)
			l.fill(f.fq[j], f.fpx[j])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fills/s")
		sink = l
	})
}

// BenchmarkFloatDrift adds 0.1 a million times per op and reports how far
// the float64 total is from the exact 100000, in micro-dollars.
func BenchmarkFloatDrift(b *testing.B) {
	var total float64
	for b.Loop() {
		total = 0
		for range 1_000_000 {
			total += 0.1
		}
	}
	b.ReportMetric((total-100_000)*market.MoneyScale, "drift-microUSD")
}

// TestLedgersAgree runs every fill through each ledger: fixed point and
// rounded decimal must agree to the micro-dollar; float64 is logged.
func TestLedgersAgree(t *testing.T) {
	f := genFills()
	fx := fixedLedger{cash: startCash}
	dl := decimalLedger{cash: decimal.New(int64(startCash), -market.MoneyDecimals)}
	exact := dl
	fl := floatLedger{cash: startCash.Float64()}
	for range 100 { // 409,600 fills
		for j := range nFills {
			fx.fill(f.q[j], f.p[j])
			dl.fill(f.dq[j], f.dp[j])
			exact.fillExact(f.dq[j], f.dp[j])
			fl.fill(f.fq[j], f.fpx[j])
		}
	}
	asDec := func(m market.Money) decimal.Decimal { return decimal.New(int64(m), -market.MoneyDecimals) }
	if !asDec(fx.cash).Equal(dl.cash) || !asDec(fx.pnl).Equal(dl.pnl) {
		t.Fatalf("fixed cash %v pnl %v, decimal cash %v pnl %v: want equal", fx.cash, fx.pnl, dl.cash, dl.pnl)
	}
	t.Logf("after %d fills: fixed cash %v pnl %v", 100*nFills, fx.cash, fx.pnl)
	// Against the unrounded exact ledger, float64's error is pure drift.
	ec, _ := exact.cash.Float64()
	ep, _ := exact.pnl.Float64()
	t.Logf("unrounded decimal cash %v pnl %v", exact.cash, exact.pnl)
	t.Logf("float64 cash %.6f pnl %.6f: drift %+.3g and %+.3g USD from the unrounded exact ledger",
		fl.cash, fl.pnl, fl.cash-ec, fl.pnl-ep)
}

// TestFloatDrift adds 0.1 a million times: fixed point and decimal are
// exact, float64 is not.
func TestFloatDrift(t *testing.T) {
	const n = 1_000_000
	var fx market.Money
	dec := decimal.Zero
	var fl float64
	tenth := market.MoneyFromFloat(0.1)
	decTenth := decimal.New(1, -1)
	for range n {
		fx += tenth
		dec = dec.Add(decTenth)
		fl += 0.1
	}
	if fx != market.USD(100_000) {
		t.Errorf("fixed-point total %v, want 100000.00", fx)
	}
	if !dec.Equal(decimal.New(100_000, 0)) {
		t.Errorf("decimal total %v, want 100000", dec)
	}
	drift := fl - 100_000
	if drift == 0 {
		t.Errorf("float64 total %v shows no drift; the comparison no longer demonstrates anything", fl)
	}
	t.Logf("after %d additions of 0.1: fixed %v, decimal %v, float64 %.11f (drift %+.3g USD)", n, fx, dec, fl, drift)
}
