package arena

import (
	"errors"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// script is a test strategy: fn picks the target from the input and the
// number of ticks the symbol has had.
type script struct {
	fn func(in Input, n int) Target
	n  []int
}

func (s *script) Decide(in Input) Target {
	s.n[in.Symbol]++
	return s.fn(in, s.n[in.Symbol]-1)
}

func scriptSpec(fn func(in Input, n int) Target) StrategySpec {
	return StrategySpec{
		Name:     "script",
		Defaults: Params{"risk": 1},
		Bounds:   map[string][2]float64{"risk": {0.01, 10}},
		New: func(p Params, nsym int) (Strategy, error) {
			return &script{fn: fn, n: make([]int, nsym)}, nil
		},
	}
}

// longAt returns a script that goes long on the symbol's tick `from` and
// stays long (or goes flat from tick `until` on, if until > from).
func longAt(from, until int) func(Input, int) Target {
	return func(in Input, n int) Target {
		if n >= from && (until <= from || n < until) {
			return Target{Side: Long, Size: 1}
		}
		return Target{Side: Flat}
	}
}

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// prices feeds one BTC-USD tick per price, one second apart.
func prices(t *testing.T, ar *Arena, ps ...float64) {
	t.Helper()
	for _, p := range ps {
		tk := market.Tick{Symbol: "BTC-USD", Price: market.PriceFromFloat(p), Time: t0.Add(time.Duration(ar.Ticks()) * time.Second)}
		if err := ar.Step(tk); err != nil {
			t.Fatalf("Step(%v): %v", p, err)
		}
	}
}

// scripted founds one agent "S" trading BTC-USD alone with the script fn,
// no slippage, and the given risk (notional of a position over equity).
func scripted(t *testing.T, cfg Config, risk float64, fn func(Input, int) Target) (*Arena, *collect) {
	t.Helper()
	c := &collect{}
	cfg.Symbols = []market.Symbol{"BTC-USD"}
	cfg.Strategies = []StrategySpec{scriptSpec(fn)}
	if cfg.Slippage == 0 {
		cfg.Slippage = -1
	}
	ar := mustArena(t, cfg, []Founder{{Name: "S", Strategy: "script", Capital: market.USD(100_000), Params: Params{"risk": risk}}}, c)
	return ar, c
}

func (c *collect) of(typ EventType) []Event {
	var out []Event
	for _, e := range c.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func mustAgent(t *testing.T, ar *Arena, id string) AgentState {
	t.Helper()
	st, ok := ar.Agent(id)
	if !ok {
		t.Fatalf("no agent %s", id)
	}
	return st
}

func TestFillsAtNextTickWithFeeOnNotional(t *testing.T) {
	ar, c := scripted(t, Config{}, 1, longAt(0, 2))
	prices(t, ar, 100, 110, 120, 130)
	trades := c.of(EventTrade)
	if len(trades) != 2 {
		t.Fatalf("got %d trades, want open and close", len(trades))
	}
	open, cls := trades[0].Trade, trades[1].Trade
	if trades[0].Tick != 1 || open.Price != market.PriceFromFloat(110) {
		t.Errorf("open at tick %d price %v, want tick 1 (decided on tick 0) at 110", trades[0].Tick, open.Price)
	}
	wantQty := market.QtyFor(market.USD(100_000), market.PriceFromFloat(110))
	if open.Qty != wantQty {
		t.Errorf("qty %v, want %v (risk 1 × equity at the fill price)", open.Qty, wantQty)
	}
	notional := market.Notional(open.Qty, open.Price)
	if want := notional.Mul(market.Bps(10)); open.Fee != want {
		t.Errorf("open fee %v, want 0.1%% of notional %v = %v", open.Fee, notional, want)
	}
	// Decided flat on tick 2 (price 120), filled on tick 3 at 130.
	if trades[1].Tick != 3 || cls.Price != market.PriceFromFloat(130) {
		t.Errorf("close at tick %d price %v, want tick 3 at 130", trades[1].Tick, cls.Price)
	}
	proceeds := market.Notional(open.Qty, cls.Price)
	if cls.Realized != proceeds-notional {
		t.Errorf("realized %v, want %v", cls.Realized, proceeds-notional)
	}
	if want := proceeds.Mul(market.Bps(10)); cls.Fee != want {
		t.Errorf("close fee %v, want %v", cls.Fee, want)
	}
	if cls.NetPnL != cls.Realized-open.Fee-cls.Fee {
		t.Errorf("net %v, want realized − both fees", cls.NetPnL)
	}
	st := mustAgent(t, ar, "S")
	if want := market.USD(100_000) + cls.NetPnL; st.Cash != want || st.Capital != want {
		t.Errorf("cash %v equity %v, want both %v", st.Cash, st.Capital, want)
	}
	if st.Trades != 1 || st.Wins != 1 || st.WinRate != 1 {
		t.Errorf("trades %d wins %d win rate %g, want 1, 1, 1", st.Trades, st.Wins, st.WinRate)
	}
}

func TestSlippageIsAdverseBoundedAndSeeded(t *testing.T) {
	run := func(seed uint64) []market.Price {
		flip := func(in Input, n int) Target {
			if n%2 == 0 {
				return Target{Side: Long, Size: 0.1}
			}
			return Target{Side: Flat}
		}
		ar, c := scripted(t, Config{Seed: seed, Slippage: market.Bps(20)}, 1, flip)
		ps := make([]float64, 200)
		for i := range ps {
			ps[i] = 100
		}
		prices(t, ar, ps...)
		var out []market.Price
		for _, e := range c.of(EventTrade) {
			lo, hi := market.PriceFromFloat(100), market.PriceFromFloat(100.2)
			if e.Trade.Action == "close" {
				lo, hi = market.PriceFromFloat(99.8), market.PriceFromFloat(100)
			}
			if e.Trade.Price < lo || e.Trade.Price > hi {
				t.Fatalf("%s fill at %v outside adverse band [%v, %v]", e.Trade.Action, e.Trade.Price, lo, hi)
			}
			out = append(out, e.Trade.Price)
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	if len(a) < 100 {
		t.Fatalf("only %d fills", len(a))
	}
	same, diff := true, false
	for i := range a {
		same = same && a[i] == b[i]
		diff = diff || a[i] != c[i]
	}
	if !same || !diff {
		t.Errorf("same seed same fills: %v; different seed different fills: %v", same, diff)
	}
}

func TestStepRejectsBadTicksAndChangesNothing(t *testing.T) {
	ar, c := scripted(t, Config{}, 1, longAt(0, 0))
	prices(t, ar, 100)
	before, seq := ar.Ticks(), ar.NextSeq()
	bad := []market.Tick{
		{Symbol: "DOGE-USD", Price: market.PriceFromFloat(1), Time: t0.Add(time.Hour)},
		{Symbol: "BTC-USD", Price: 0, Time: t0.Add(time.Hour)},
		{Symbol: "BTC-USD", Price: -5, Time: t0.Add(time.Hour)},
		{Symbol: "BTC-USD", Price: market.PriceFromFloat(100), Time: t0.Add(-time.Hour)},
	}
	for _, tk := range bad {
		if err := ar.Step(tk); !errors.Is(err, ErrTick) {
			t.Errorf("Step(%+v) = %v, want ErrTick", tk, err)
		}
	}
	if ar.Ticks() != before || ar.NextSeq() != seq || len(c.events) != int(seq-1) {
		t.Errorf("a rejected tick changed the arena: ticks %d→%d, seq %d→%d", before, ar.Ticks(), seq, ar.NextSeq())
	}
	prices(t, ar, 101) // still usable
}

func TestSinkErrorStopsTheArena(t *testing.T) {
	boom := errors.New("disk full")
	n := 0
	cfg := Config{Symbols: []market.Symbol{"BTC-USD"}}
	ar := mustArena(t, cfg, DefaultRoster(), SinkFunc(func(Event) error {
		n++
		if n == 3 {
			return boom
		}
		return nil
	}))
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		err = ar.Step(market.Tick{Symbol: "BTC-USD", Price: market.PriceFromFloat(100), Time: t0})
	}
	if !errors.Is(err, boom) {
		t.Fatalf("Step = %v, want the sink's error", err)
	}
	if err := ar.Step(market.Tick{Symbol: "BTC-USD", Price: market.PriceFromFloat(100), Time: t0}); !errors.Is(err, ErrClosed) {
		t.Errorf("Step after a sink error = %v, want ErrClosed", err)
	}
}
