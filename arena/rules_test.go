package arena

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/lineage-arena/lineage/market"
)

func TestDrawdownScarSeverity(t *testing.T) {
	tests := []struct {
		drop float64 // price fall with a 1× long position
		want int     // severity; 0 = no scar
	}{
		{0.04, 0},
		{0.06, 1},
		{0.11, 2},
		{0.16, 3},
		{0.25, 4},
		{0.35, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.drop), func(t *testing.T) {
			ar, c := scripted(t, Config{DeathDrawdown: market.Percent(90)}, 1, longAt(0, 0))
			prices(t, ar, 100, 100, 100*(1-tt.drop))
			scars := c.of(EventScar)
			if tt.want == 0 {
				if len(scars) != 0 {
					t.Fatalf("scarred by a %.0f%% drawdown: %+v", tt.drop*100, scars[0].Scar.Scar)
				}
				return
			}
			if len(scars) != 1 {
				t.Fatalf("got %d scars, want 1", len(scars))
			}
			sc := scars[0].Scar.Scar
			if sc.Kind != ScarDrawdown || sc.Severity != tt.want {
				t.Errorf("scar %s severity %d, want drawdown severity %d", sc.Kind, sc.Severity, tt.want)
			}
			if sc.Seq != scars[0].Seq {
				t.Errorf("scar records seq %d, its event has %d", sc.Seq, scars[0].Seq)
			}
		})
	}
}

// The drawdown that scars grows with the scars taken: 5 % × max(1, scars),
// measured from the equity at the last scar.
func TestDrawdownScarThresholdGrowsWithScars(t *testing.T) {
	ar, c := scripted(t, Config{DeathDrawdown: market.Percent(95), EquityFloor: market.Percent(1)}, 1, longAt(0, 0))
	p := 100.0
	prices(t, ar, p, p)
	for _, step := range []struct {
		fall  float64
		scars int
	}{
		{0.06, 1}, // 6 % > 5 %: first scar
		{0.06, 2}, // threshold still 5 % × max(1, 1)
		{0.08, 2}, // threshold now 10 %: 8 % does not scar
		{0.03, 3}, // 8 % then 3 % more from the reference: ≈ 10.8 % > 10 %
	} {
		p *= 1 - step.fall
		prices(t, ar, p)
		if got := len(c.of(EventScar)); got != step.scars {
			t.Fatalf("after a %.0f%% fall: %d scars, want %d", step.fall*100, got, step.scars)
		}
	}
}

func TestLossScarSeverity(t *testing.T) {
	tests := []struct {
		fall float64 // price fall while long 1×, closed after it
		want int
	}{
		{0.01, 0},
		{0.03, 1},
		{0.05, 2},
		{0.08, 3},
		{0.12, 4},
		{0.20, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fall), func(t *testing.T) {
			// A drawdown scar would come first, so set its threshold out of reach.
			cfg := Config{ScarDrawdown: market.Percent(99), DeathDrawdown: market.Percent(99), EquityFloor: market.Percent(1)}
			ar, c := scripted(t, cfg, 1, longAt(0, 2))
			prices(t, ar, 100, 100, 100*(1-tt.fall), 100*(1-tt.fall))
			var got []Scar
			for _, e := range c.of(EventScar) {
				got = append(got, e.Scar.Scar)
			}
			if tt.want == 0 {
				if len(got) != 0 {
					t.Fatalf("a %.0f%% loss scarred: %+v", tt.fall*100, got)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != ScarLoss || got[0].Severity != tt.want {
				t.Fatalf("scars %+v, want one loss scar of severity %d", got, tt.want)
			}
		})
	}
}

// A scar of severity s multiplies costs by 1 + 0.05·s, cuts leverage by
// 10·s %, forbids shorts from severity 3 and halves positions from 4.
func TestScarImpact(t *testing.T) {
	for sev := 1; sev <= 5; sev++ {
		t.Run(fmt.Sprint(sev), func(t *testing.T) {
			cfg := Config{Symbols: []market.Symbol{"BTC-USD"}}.withDefaults(1)
			a := &agent{costMul: market.RateScale, levMul: market.RateScale, initial: market.USD(1000), cash: market.USD(1000),
				pos: make([]position, 1), pend: make([]order, 1)}
			a.applyRates(&cfg)
			tc := &tickCtx{cfg: &cfg, marks: []market.Price{market.PriceFromFloat(1)}}
			a.scar(tc, ScarLoss, sev, market.Percent(3))
			if want := cfg.Fee.Mul(market.RateScale + market.Rate(sev)*50_000); a.fee != want {
				t.Errorf("fee %v, want %v", a.fee, want)
			}
			if want := cfg.Slippage.Mul(market.RateScale + market.Rate(sev)*50_000); a.slip != want {
				t.Errorf("slippage %v, want %v", a.slip, want)
			}
			if want := cfg.LeverageCap.Mul(market.RateScale - market.Rate(sev)*100_000); a.levCap != want {
				t.Errorf("leverage cap %v, want %v", a.levCap, want)
			}
			if a.noShort != (sev >= 3) || a.halfSize != (sev >= 4) {
				t.Errorf("noShort %v halfSize %v at severity %d", a.noShort, a.halfSize, sev)
			}
		})
	}
}

func TestScarsCompoundAndFifthKills(t *testing.T) {
	cfg := Config{Symbols: []market.Symbol{"BTC-USD"}}.withDefaults(1)
	a := &agent{costMul: market.RateScale, levMul: market.RateScale, initial: market.USD(1000), cash: market.USD(1000),
		pos: make([]position, 1), pend: make([]order, 1)}
	a.applyRates(&cfg)
	tc := &tickCtx{cfg: &cfg, marks: []market.Price{market.PriceFromFloat(1)}}
	for i := 1; i <= MaxScars; i++ {
		if a.dead {
			t.Fatalf("dead after %d scars", i-1)
		}
		a.scar(tc, ScarLoss, 1, market.Percent(3))
	}
	if !a.dead || a.death.Cause != CauseScars {
		t.Fatalf("after %d scars: dead %v cause %v, want dead of scars", MaxScars, a.dead, a.death)
	}
	// 1.05^5 on 0.1 % and 0.9^5 on 5×, in exact ppm steps.
	if a.fee != 1276 || a.levCap != 2_952_450 {
		t.Errorf("after five severity-1 scars: fee %v ppm, leverage cap %v ppm; want 1276 and 2952450", int64(a.fee), int64(a.levCap))
	}
}

func TestRestrictionsApplyToOrders(t *testing.T) {
	// Severity 4 forbids shorts and halves positions: a short target
	// becomes flat and a long opens at half the risk.
	cfg := Config{ScarDrawdown: market.Percent(99), DeathDrawdown: market.Percent(99), EquityFloor: market.Percent(1)}
	side := Long
	ar, c := scripted(t, cfg, 1, func(in Input, n int) Target { return Target{Side: side, Size: 1} })
	prices(t, ar, 100, 100) // open long
	side = Flat
	prices(t, ar, 88, 88) // close after a 12 % fall: a severity-4 loss scar
	if sc := c.of(EventScar); len(sc) != 1 || sc[0].Scar.Scar.Severity != 4 {
		t.Fatalf("scars %v, want one of severity 4", len(sc))
	}
	side = Short
	prices(t, ar, 88, 88)
	if st := mustAgent(t, ar, "S"); len(st.Positions) != 0 {
		t.Fatalf("opened %+v despite the no-short restriction", st.Positions)
	}
	side = Long
	prices(t, ar, 88, 88)
	st := mustAgent(t, ar, "S")
	if len(st.Positions) != 1 {
		t.Fatalf("positions %+v, want one long", st.Positions)
	}
	trades := c.of(EventTrade)
	last := trades[len(trades)-1].Trade
	budget := market.MoneyFromFloat((st.Capital + last.Fee).Float64() * 0.5) // equity before the fill's fee
	if n := market.Notional(last.Qty, last.Price); n > budget || n < budget-budget/1000 {
		t.Errorf("notional %v, want about half the equity (%v)", n, budget)
	}
}

func TestDeathCauses(t *testing.T) {
	tests := []struct {
		name  string
		risk  float64
		fall  float64
		cause Cause
	}{
		{"bankrupt", 5, 0.19, CauseBankrupt}, // 5 × 19 % = 95 % lost: below the 10 % floor
		{"drawdown", 5, 0.11, CauseDrawdown}, // 55 % lost: past the 50 % death drawdown
		{"survives", 1, 0.04, ""},            // 4 % lost
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar, c := scripted(t, Config{}, tt.risk, longAt(0, 0))
			prices(t, ar, 100, 100, 100*(1-tt.fall))
			if tt.cause != "" {
				prices(t, ar, 50, 200, 100) // the dead do nothing more
			}
			deaths := c.of(EventDeath)
			st := mustAgent(t, ar, "S")
			if tt.cause == "" {
				if len(deaths) != 0 || st.Status == StatusDeceased {
					t.Fatalf("died: %+v", deaths)
				}
				return
			}
			if len(deaths) != 1 || deaths[0].Death.Cause != tt.cause {
				t.Fatalf("deaths %+v, want one of %s", deaths, tt.cause)
			}
			if st.Status != StatusDeceased || len(st.Positions) != 0 {
				t.Errorf("status %s positions %+v, want deceased and flat", st.Status, st.Positions)
			}
			// The death tick liquidates; nothing happens after it.
			trades := c.of(EventTrade)
			last := trades[len(trades)-1]
			if last.Trade.Reason != "liquidation" || last.Tick != deaths[0].Tick || last.Seq > deaths[0].Seq {
				t.Errorf("last trade %+v at tick %d, want the liquidation before the death at tick %d", last.Trade, last.Tick, deaths[0].Tick)
			}
			if ar.Living() != 0 {
				t.Errorf("living %d, want 0", ar.Living())
			}
			if err := checkBooks(ar); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSpawnQualification(t *testing.T) {
	cfg := Config{Symbols: []market.Symbol{"BTC-USD"}}.withDefaults(1)
	tests := []struct {
		name                       string
		equity                     market.Money
		closed, wins, scars, since int
		want                       bool
	}{
		{"qualifies", market.USD(50_000), 10, 6, 0, 10, true},
		{"exactly 55%", market.USD(50_000), 20, 11, 2, 20, true},
		{"win rate 54%", market.USD(50_000), 50, 27, 0, 50, false},
		{"nine trades", market.USD(50_000), 9, 9, 0, 9, false},
		{"three scars", market.USD(50_000), 10, 10, 3, 10, false},
		{"poor", market.USD(9_999), 10, 10, 0, 10, false},
		{"exactly 10000", market.USD(10_000), 10, 10, 0, 10, true},
		{"spawned recently", market.USD(50_000), 30, 30, 0, 9, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &agent{cash: tt.equity, closed: tt.closed, wins: tt.wins, scars: make([]Scar, tt.scars), sinceSpawn: tt.since}
			a.checkSpawn(&cfg)
			if a.wantSpawn != tt.want {
				t.Errorf("wantSpawn %v, want %v", a.wantSpawn, tt.want)
			}
		})
	}
}

func TestSpawnPaysQuarterAndInherits(t *testing.T) {
	// Twelve winning round trips qualify S; its child is S.1.
	ar, c := scripted(t, Config{Seed: 3}, 0.2, func(in Input, n int) Target {
		if n%2 == 0 {
			return Target{Side: Long, Size: 1}
		}
		return Target{Side: Flat}
	})
	p := 100.0
	for range 60 {
		p *= 1.01
		prices(t, ar, p)
		if len(c.of(EventSpawn)) > 0 {
			break
		}
	}
	spawns := c.of(EventSpawn)
	if len(spawns) != 1 {
		t.Fatalf("got %d spawns, want 1", len(spawns))
	}
	sp := spawns[0].Spawn
	parent, child := mustAgent(t, ar, "S"), mustAgent(t, ar, "S.1")
	if sp.Parent != "S" || sp.Child != "S.1" || child.Generation != 1 || child.Parent != "S" {
		t.Errorf("spawn %+v child %s gen %d parent %q", sp, child.ID, child.Generation, child.Parent)
	}
	if want := (parent.Capital + sp.Endowment).Mul(market.Percent(25)); sp.Endowment != want {
		t.Errorf("endowment %v, want 25%% of the parent's equity before the gift (%v)", sp.Endowment, want)
	}
	if child.Initial != sp.Endowment || parent.Endowments != sp.Endowment {
		t.Errorf("child initial %v, parent paid %v, endowment %v", child.Initial, parent.Endowments, sp.Endowment)
	}
	if r := child.Params["risk"]; r < 0.2*(1-sp.Mutation)-1e-9 || r > 0.2*(1+sp.Mutation)+1e-9 {
		t.Errorf("child risk %g outside parent's 0.2 ± %g", r, sp.Mutation)
	}
	if err := checkBooks(ar); err != nil {
		t.Error(err)
	}
	if parent.MaxDrawdown > 0.01 {
		t.Errorf("the gift counted as a drawdown of %.1f%%", parent.MaxDrawdown*100)
	}
}

func TestTrustTiersAreContiguous(t *testing.T) {
	tests := []struct {
		score float64
		want  string
	}{
		{100, "Gold"}, {80, "Gold"}, {79.99, "Silver"}, {60, "Silver"}, {59.99, "Bronze"},
		{40, "Bronze"}, {39.99, "None"}, {0, "None"},
	}
	for _, tt := range tests {
		if got := TrustTier(tt.score); got != tt.want {
			t.Errorf("TrustTier(%g) = %s, want %s", tt.score, got, tt.want)
		}
	}
}

func TestTrustScore(t *testing.T) {
	cfg := Config{Symbols: []market.Symbol{"BTC-USD"}}.withDefaults(1)
	perfect := &agent{closed: 10, wins: 10, tradeRet: 0.1, tradeRetSq: 0.001}
	if got := perfect.trust(&cfg); got != 100 {
		t.Errorf("all wins, equal returns, no drawdown, no scars: trust %g, want 100", got)
	}
	fresh := &agent{}
	if got := fresh.trust(&cfg); got != 55 {
		t.Errorf("a newborn: trust %g, want 55 (drawdown 25 + half consistency 10 + health 20)", got)
	}
	worn := &agent{closed: 10, wins: 3, maxDD: market.Percent(25), scars: make([]Scar, 4), tradeRet: 0.1, tradeRetSq: 0.05}
	if got := worn.trust(&cfg); got >= fresh.trust(&cfg) || got < 0 {
		t.Errorf("losing, scarred agent trust %g, want below a newborn's and ≥ 0", got)
	}
	for _, a := range []*agent{perfect, fresh, worn} {
		a.scars = append(a.scars, Scar{})
		before := a.trust(&cfg)
		a.scars = append(a.scars, Scar{})
		if after := a.trust(&cfg); after >= before {
			t.Errorf("a scar raised trust from %g to %g", before, after)
		}
	}
}

// Endowments are gifts, not losses: a parent that gave most of its capital
// away is measured against what it kept.
func TestEquityFloorCountsEndowmentsAsKept(t *testing.T) {
	cfg := Config{Symbols: []market.Symbol{"BTC-USD"}}.withDefaults(1)
	tests := []struct {
		name       string
		endowments market.Money
		equity     market.Money
		dies       bool
	}{
		{"generous parent", market.USD(92_000), market.USD(7_500), false},
		{"lost 91 % of what it kept", market.USD(50_000), market.USD(4_500), true},
		{"lost 91 % with no children", 0, market.USD(9_000), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &agent{initial: market.USD(100_000), endowments: tt.endowments, cash: tt.equity, peak: tt.equity,
				scarRef: tt.equity, pos: make([]position, 1), pend: make([]order, 1)}
			a.updateLevels(&cfg)
			tc := &tickCtx{cfg: &cfg, marks: []market.Price{1}}
			if got := a.checkDeath(tc, tt.equity); got != tt.dies {
				t.Fatalf("dead %v, want %v", got, tt.dies)
			}
			if tt.dies && a.death.Cause != CauseBankrupt {
				t.Errorf("cause %s, want %s", a.death.Cause, CauseBankrupt)
			}
		})
	}
}

// A long→short flip whose closing leg takes a severity-3 loss scar must not
// open the short: the scar forbids it from the moment it is taken.
func TestScarOnClosingLegForbidsTheShortItFlipsTo(t *testing.T) {
	cfg := Config{ScarDrawdown: market.Percent(99), DeathDrawdown: market.Percent(99), EquityFloor: market.Percent(1)}
	side := Long
	ar, c := scripted(t, cfg, 1, func(in Input, n int) Target { return Target{Side: side, Size: 1} })
	prices(t, ar, 100, 100) // decide long, open long
	side = Short
	prices(t, ar, 92, 92) // decide short on an 8 % fall; the flip fills on the next tick
	scars := c.of(EventScar)
	if len(scars) != 1 || scars[0].Scar.Scar.Kind != ScarLoss || scars[0].Scar.Scar.Severity != 3 {
		t.Fatalf("scars %+v, want one loss scar of severity 3", scars)
	}
	for _, e := range c.of(EventTrade) {
		if e.Trade.Action == "open" && e.Trade.Side == Short {
			t.Fatalf("short opened at seq %d tick %d after the severity-3 scar at seq %d", e.Seq, e.Tick, scars[0].Seq)
		}
	}
	prices(t, ar, 92, 92) // the strategy still wants short: nothing opens
	if st := mustAgent(t, ar, "S"); len(st.Positions) != 0 {
		t.Errorf("positions %+v, want flat", st.Positions)
	}
}

// The deepest fall is measured from the peak as paying a child lowered it:
// a fall after the payment counts in full against the lowered peak, and the
// payment itself is not a fall.
func TestMaxDrawdownAcrossAnEndowment(t *testing.T) {
	cfg := Config{Symbols: []market.Symbol{"BTC-USD"}}.withDefaults(1)
	usd := market.USD
	tests := []struct {
		name  string
		path  []market.Money // equity tick by tick; 0 pays endow
		endow market.Money
		want  market.Rate
	}{
		{"no child", []market.Money{usd(100_000), usd(99_000), usd(99_500)}, 0,
			drawdown(usd(100_000), usd(99_000))},
		// Peak 100k, a 1 % dip, a recovery to 99.5k, then 24.875k paid: the
		// peak becomes 75.125k, and a fall to 74.2k is 1.23 % below it.
		{"fall after the gift", []market.Money{usd(100_000), usd(99_000), usd(99_500), 0, usd(74_200)}, usd(24_875),
			drawdown(usd(75_125), usd(74_200))},
		{"gift alone is not a fall", []market.Money{usd(100_000), usd(100_000), 0, usd(75_000)}, usd(25_000), 0},
		// 10k below a 100k peak, 22.5k paid: still 10k below, now of 77.5k.
		{"fall in progress at the gift", []market.Money{usd(100_000), usd(90_000), 0, usd(67_500)}, usd(22_500),
			drawdown(usd(77_500), usd(67_500))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &agent{initial: usd(100_000), cash: usd(100_000), peak: usd(100_000), scarRef: usd(100_000),
				prevEquity: usd(100_000), pos: make([]position, 1), pend: make([]order, 1)}
			a.updateLevels(&cfg)
			for _, eq := range tt.path {
				if eq == 0 {
					a.pay(tt.endow, &cfg)
					continue
				}
				a.cash = eq // flat: equity is cash
				a.track(&cfg, eq)
			}
			if a.maxDD != tt.want {
				t.Errorf("max drawdown %v ppm, want %v ppm", int64(a.maxDD), int64(tt.want))
			}
		})
	}
}

// A death records its own sequence number and tick.
func TestDeathCarriesItsSequenceAndTick(t *testing.T) {
	ar, c := scripted(t, Config{}, 5, longAt(0, 0))
	prices(t, ar, 100, 100, 80)
	deaths := c.of(EventDeath)
	if len(deaths) != 1 {
		t.Fatalf("%d deaths, want 1", len(deaths))
	}
	d := deaths[0]
	if d.Death.Seq != d.Seq || d.Death.Tick != d.Tick || d.Tick != 2 {
		t.Errorf("death records seq %d tick %d; its event is seq %d tick %d (want tick 2)", d.Death.Seq, d.Death.Tick, d.Seq, d.Tick)
	}
	if st := mustAgent(t, ar, "S"); st.Death == nil || st.Death.Seq != d.Seq {
		t.Errorf("the agent's state holds death %+v, want seq %d", st.Death, d.Seq)
	}
}

// GenerateRoster's round-robin takes in a caller's strategies after the
// built-ins, and leaves the built-ins' roster as it was without them.
func TestGenerateRosterWithStrategies(t *testing.T) {
	extra := StrategySpec{Name: "still", Defaults: Params{"risk": 1}, Bounds: map[string][2]float64{"risk": {0.1, 2}},
		New: func(Params, int) (Strategy, error) { return nil, nil }}
	got := GenerateRoster(8, 3, extra)
	var names []string
	for _, f := range got {
		names = append(names, f.Name+":"+f.Strategy)
	}
	want := "Momentum-1:momentum Conservative-1:conservative Balanced-1:balanced Still-1:still " +
		"Momentum-2:momentum Conservative-2:conservative Balanced-2:balanced Still-2:still"
	if strings.Join(names, " ") != want {
		t.Errorf("roster %v, want %s", names, want)
	}
	builtins := GenerateRoster(3, 3)
	for i, f := range GenerateRoster(3, 3, extra) {
		if f.Name != builtins[i].Name || !maps.Equal(f.Params, builtins[i].Params) {
			t.Errorf("founder %d: %+v with extra strategies, %+v without", i, f, builtins[i])
		}
	}
}
