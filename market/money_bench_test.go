package market_test

import (
	"testing"

	"github.com/lineage-arena/lineage/market"
)

// benchN is the number of pre-generated inputs a benchmark cycles through;
// a power of two so the index is a mask.
const benchN = 1 << 12

type fill struct {
	q market.Qty
	p market.Price
}

// benchFills returns fills whose product q×p stays within 63 bits (fast)
// or exceeds it (slow): below and above about $922 of notional.
func benchFills(b *testing.B, fast bool) []fill {
	r := newRand(b, 7)
	fills := make([]fill, benchN)
	for i := range fills {
		var f fill
		if fast {
			f = fill{market.Qty(1 + r.Int64N(market.QtyScale/100)), market.Price(1 + r.Int64N(1_000*market.PriceScale))}
		} else {
			f = fill{market.Qty(market.QtyScale + r.Int64N(100*market.QtyScale)), market.Price(1_000*market.PriceScale + r.Int64N(100_000*market.PriceScale))}
		}
		if r.IntN(2) == 0 {
			f.q = -f.q
		}
		fills[i] = f
	}
	return fills
}

func BenchmarkNotional(b *testing.B) {
	for _, bc := range []struct {
		name string
		fast bool
	}{{"fast", true}, {"128bit", false}} {
		b.Run(bc.name, func(b *testing.B) {
			fills := benchFills(b, bc.fast)
			var sum market.Money
			i := 0
			for b.Loop() {
				f := fills[i&(benchN-1)]
				sum += market.Notional(f.q, f.p)
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "notionals/s")
			sink = int64(sum)
		})
	}
}

func BenchmarkMulDiv(b *testing.B) {
	r := newRand(b, 8)
	type args struct{ a, b, c int64 }
	for _, bc := range []struct {
		name string
		bits int // bit length of a and b
	}{{"64bit", 30}, {"128bit", 62}} {
		b.Run(bc.name, func(b *testing.B) {
			in := make([]args, benchN)
			for i := range in {
				in[i] = args{randBits(r, bc.bits) + 1, randBits(r, bc.bits) + 1, randBits(r, 62) + 1}
			}
			var sum int64
			i := 0
			for b.Loop() {
				a := in[i&(benchN-1)]
				sum += market.MulDiv(a.a, a.b, a.c)
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "muldivs/s")
			sink = sum
		})
	}
}

func BenchmarkParsePrice(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"plain", "115000.50"},
		{"satoshi", "0.00000001"},
		{"9th-digit", "63123.456789125"},
		{"exponent", "1.2345678e-5"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.in)))
			var sum market.Price
			for b.Loop() {
				p, err := market.ParsePrice(bc.in)
				if err != nil {
					b.Fatal(err)
				}
				sum += p
			}
			sink = int64(sum)
		})
	}
}

// sink keeps benchmark results alive.
var sink int64
