package arena

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/market"
)

// A snapshot taken before every symbol has ticked — a fresh arena, or one
// whose feed has not reached a symbol yet — decodes to what it was: the
// symbols without a price are null, not a price of zero, which is no price.
func TestSnapshotJSONRoundTripsBeforeEveryTick(t *testing.T) {
	ar := mustArena(t, Config{Seed: 1}, DefaultRoster(), &collect{})
	fresh := ar.Snapshot()
	if err := ar.Step(market.Tick{Symbol: "ETH-USD", Price: market.PriceFromFloat(2500), Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Snapshot{"fresh": fresh, "one symbol ticked": ar.Snapshot()} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var got Snapshot
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: the snapshot's JSON does not decode: %v", name, err)
		}
		if !reflect.DeepEqual(&got, s) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, *s)
		}
	}
}
