package graveyard

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// The canonical encoding is a contract with other verifiers: this is the
// exact text signed for sample("Momentum.0"), and its HMAC under testKey
// (checked against Python's hmac module when written).
func TestCanonicalForm(t *testing.T) {
	const want = `{"agent_id":"Momentum.0","name":"Momentum.0","strategy":"momentum","generation":1,"parent":"Momentum",` +
		`"born":{"time":"2026-01-02T03:04:05Z","sequence":17,"tick":100},` +
		`"died":{"time":"2026-01-02T04:00:00.25Z","sequence":9001,"tick":3500},"cause":"drawdown",` +
		`"scars":[{"kind":"drawdown","severity":3,"magnitude":0.17,"equity":8500.00,"tick":2000,"sequence":6000},` +
		`{"kind":"loss","severity":2,"magnitude":0.055,"equity":7000.00,"tick":3000,"sequence":8000}],` +
		`"trades":42,"wins":19,"final_capital":4100.50,"peak_capital":12000.00,"initial_capital":10000.00,` +
		`"lifespan_ticks":3400,"params":{"fast":30,"risk":0.25,"slow":120},` +
		`"last_event_hash":"f785782a159bb2286f83e4989a32df0fcce6809123096f17508a4442eff2b2ef","signature":""}`
	const wantSig = "4d1f2939e87f7965bb7ad6569b6de42505c0a979497ec9d2bb0c1a2574b2528c"

	ts := sample("Momentum.0")
	ts.Signature = "ignored"
	got, err := canonical(ts)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("canonical encoding\n got %s\nwant %s", got, want)
	}
	if err := Sign(testKey, &ts); err != nil {
		t.Fatal(err)
	}
	if ts.Signature != wantSig {
		t.Errorf("signature %s, want %s", ts.Signature, wantSig)
	}
}

func TestCanonicalFormEmptyCollections(t *testing.T) {
	ts := sample("Founder")
	ts.Parent, ts.Generation = "", 0
	empty := ts
	ts.Scars, ts.Params = nil, nil
	empty.Scars, empty.Params = []arena.Scar{}, arena.Params{}
	a, err := canonical(ts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := canonical(empty)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Errorf("nil and empty collections encode differently:\n%s\n%s", a, b)
	}
	if !strings.Contains(string(a), `"scars":[]`) || !strings.Contains(string(a), `"params":{}`) || !strings.Contains(string(a), `"parent":""`) {
		t.Errorf("canonical encoding of a founder without scars: %s", a)
	}
}

func TestSignVerify(t *testing.T) {
	ts := sample("Momentum.0")
	if err := Sign(testKey, &ts); err != nil {
		t.Fatal(err)
	}
	if err := Verify(testKey, ts); err != nil {
		t.Fatalf("Verify of a signed tombstone: %v", err)
	}
	otherKey := []byte(strings.Repeat("k", KeySize))
	edits := map[string]func(*Tombstone){
		"other key":      func(*Tombstone) {},
		"final capital":  func(t *Tombstone) { t.FinalCapital += 1 },
		"cause":          func(t *Tombstone) { t.Cause = arena.CauseScars },
		"scar severity":  func(t *Tombstone) { t.Scars = append([]arena.Scar(nil), t.Scars...); t.Scars[0].Severity = 1 },
		"scar removed":   func(t *Tombstone) { t.Scars = t.Scars[:1] },
		"param":          func(t *Tombstone) { t.Params = arena.Params{"fast": 30, "slow": 120, "risk": 0.5} },
		"died time":      func(t *Tombstone) { t.Died.Time = t.Died.Time.Add(time.Nanosecond) },
		"signature case": func(t *Tombstone) { t.Signature = strings.ToUpper(t.Signature) },
		"no signature":   func(t *Tombstone) { t.Signature = "" },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			bad := ts
			edit(&bad)
			key := testKey
			if name == "other key" {
				key = otherKey
			}
			if err := Verify(key, bad); !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify: %v, want ErrBadSignature", err)
			}
		})
	}
	if err := Verify(testKey, ts); err != nil {
		t.Errorf("an edit leaked into the signed tombstone: %v", err)
	}
}

// A key of the wrong size — above all an empty one — is refused, never used
// for an unkeyed MAC.
func TestSignVerifyRefuseBadKeys(t *testing.T) {
	ts := sample("Momentum.0")
	if err := Sign(testKey, &ts); err != nil {
		t.Fatal(err)
	}
	for _, key := range [][]byte{nil, {}, testKey[:16], append(testKey, 1)} {
		c := ts
		if err := Sign(key, &c); err == nil {
			t.Errorf("Sign with a %d-byte key succeeded", len(key))
		}
		if c.Signature != ts.Signature {
			t.Errorf("failed Sign changed the signature")
		}
		if err := Verify(key, ts); err == nil || errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify with a %d-byte key: %v, want a key error", len(key), err)
		}
	}
}

func TestSignRejectsInvalidTombstones(t *testing.T) {
	tests := map[string]func(*Tombstone){
		"empty id":         func(t *Tombstone) { t.AgentID, t.Name = "", "" },
		"path in id":       func(t *Tombstone) { t.AgentID, t.Name = "../x", "../x" },
		"name differs":     func(t *Tombstone) { t.Name = "Someone" },
		"bad parent":       func(t *Tombstone) { t.Parent = "a/b" },
		"no strategy":      func(t *Tombstone) { t.Strategy = "" },
		"no cause":         func(t *Tombstone) { t.Cause = "" },
		"strategy utf8":    func(t *Tombstone) { t.Strategy = "mom\xffentum" },
		"scar kind utf8":   func(t *Tombstone) { t.Scars = []arena.Scar{{Kind: "\xff"}} },
		"param utf8":       func(t *Tombstone) { t.Params = arena.Params{"\xfe": 1} },
		"short hash":       func(t *Tombstone) { t.LastEventHash = "abc" },
		"upper hex hash":   func(t *Tombstone) { t.LastEventHash = strings.ToUpper(t.LastEventHash) },
		"NaN param":        func(t *Tombstone) { t.Params = arena.Params{"risk": math.NaN()} },
		"year out of JSON": func(t *Tombstone) { t.Born.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			ts := sample("Momentum.0")
			edit(&ts)
			if err := Sign(testKey, &ts); err == nil {
				t.Error("Sign accepted an invalid tombstone")
			}
			if ts.Signature != "" {
				t.Error("a failed Sign left a signature")
			}
		})
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"Momentum", true},
		{"Momentum.0.12", true},
		{"Trend_follower-3", true},
		{"", false},
		{"../x", false},
		{"a/b", false},
		{`a\b`, false},
		{"..", false},
		{".", false},
		{".hidden", false},
		{"a..b", false},
		{"a b", false},
		{"a\x00b", false},
		{"é", false},
		{strings.Repeat("a", 250), true},
		{strings.Repeat("a", 251), false},
	}
	for _, tt := range tests {
		if err := checkID(tt.id); (err == nil) != tt.ok {
			t.Errorf("checkID(%.30q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}

func TestNew(t *testing.T) {
	died := time.Date(2026, 1, 2, 4, 0, 0, 250_000_000, time.FixedZone("CET", 3600))
	born := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := sample("Momentum.0")
	want.Died.Time = died.UTC()
	death := &arena.DeathEvent{
		Agent: "Momentum.0", Cause: arena.CauseDrawdown, Equity: want.FinalCapital, Peak: want.PeakCapital,
		Scars: 2, Trades: 42, Lifespan: 3400,
	}
	st := arena.AgentState{
		ID: "Momentum.0", Strategy: "momentum", Generation: 1, Parent: "Momentum", Status: arena.StatusDeceased,
		Capital: want.FinalCapital, Initial: want.InitialCapital, Peak: want.PeakCapital, Trades: 42, Wins: 19,
		Scars: 2, ScarLog: want.Scars, BornTick: 100, BornSeq: 17, BornTime: born, Death: death,
		Params: arena.Params{"fast": 30, "slow": 120, "risk": 0.25},
	}
	ev := arena.Event{Seq: 9001, Tick: 3500, Time: died, Type: arena.EventDeath, Death: death}
	got, err := New(st, ev, want.LastEventHash)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("New\n got %+v\nwant %+v", got, want)
	}
	st.ScarLog[0].Severity = 5
	st.Params["fast"] = 1
	if got.Scars[0].Severity == 5 || got.Params["fast"] == 1 {
		t.Error("the tombstone shares the state's scar log or params")
	}

	notDeath := arena.Event{Seq: 9001, Type: arena.EventScar, Scar: &arena.ScarEvent{Agent: "Momentum.0"}}
	if _, err := New(st, notDeath, want.LastEventHash); err == nil {
		t.Error("New accepted a scar event as the death")
	}
	other := ev
	other.Death = &arena.DeathEvent{Agent: "Balanced", Cause: arena.CauseScars, Equity: market.USD(1)}
	if _, err := New(st, other, want.LastEventHash); err == nil {
		t.Error("New accepted another agent's death")
	}
}
