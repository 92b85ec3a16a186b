package arena

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lineage-arena/lineage/market"
)

// ticksOf draws n ticks of the seeded walk.
func ticksOf(t *testing.T, seed uint64, n int) []market.Tick {
	t.Helper()
	w := newWalk(seed, n)
	out := make([]market.Tick, 0, n)
	for {
		tk, err := w.Next(t.Context())
		if err != nil {
			return out
		}
		out = append(out, tk)
	}
}

// jsonSink keeps every event as its JSON, the bytes the log would hold.
type jsonSink struct{ b [][]byte }

func (s *jsonSink) Emit(e Event) error {
	b, err := json.Marshal(e)
	s.b = append(s.b, b)
	return err
}

func stepAll(t *testing.T, ar *Arena, ticks []market.Tick) {
	t.Helper()
	for _, tk := range ticks {
		if err := ar.Step(tk); err != nil {
			t.Fatal(err)
		}
	}
}

// A property over seeds and cut points: an arena restored from a
// checkpoint taken after N ticks goes on exactly as the arena it was taken
// of — the same events, byte for byte, the same ledger hash, and the same
// checkpoint after M more ticks. The roster is large enough, and the walk
// wild enough, that the cut falls among deaths, births, scars, open
// positions and pending orders.
func TestCheckpointRestoreGoesOnIdentically(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:2]
	}
	deaths, births := 0, 0
	for _, seed := range seeds {
		ticks := ticksOf(t, seed, 12000)
		for _, cut := range []int{0, 1, 4999, 9001} {
			cfg := Config{Seed: seed, AgentEvery: 50, Workers: 1 + int(seed%3), Symbols: testSymbols}
			a := &jsonSink{}
			ar := mustArena(t, cfg, GenerateRoster(30, seed), a)
			stepAll(t, ar, ticks[:cut])
			data, err := ar.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			b := &jsonSink{}
			rs, err := Restore(cfg, data, b)
			if err != nil {
				t.Fatalf("seed %d cut %d: restore: %v", seed, cut, err)
			}
			if again, _ := rs.Checkpoint(); !bytes.Equal(again, data) {
				t.Fatalf("seed %d cut %d: the restored arena checkpoints to other bytes", seed, cut)
			}
			before := len(a.b)
			stepAll(t, ar, ticks[cut:])
			stepAll(t, rs, ticks[cut:])
			after := a.b[before:]
			if len(after) != len(b.b) {
				t.Fatalf("seed %d cut %d: %d events after the cut, the restored arena gave %d", seed, cut, len(after), len(b.b))
			}
			for i := range after {
				if !bytes.Equal(after[i], b.b[i]) {
					t.Fatalf("seed %d cut %d: event %d differs:\n%s\n%s", seed, cut, i, after[i], b.b[i])
				}
			}
			if ar.LedgerHash() != rs.LedgerHash() || ar.LedgerRecords() != rs.LedgerRecords() || ar.NextSeq() != rs.NextSeq() {
				t.Errorf("seed %d cut %d: ledger %s/%d next %d, restored %s/%d next %d", seed, cut,
					ar.LedgerHash(), ar.LedgerRecords(), ar.NextSeq(), rs.LedgerHash(), rs.LedgerRecords(), rs.NextSeq())
			}
			x, _ := ar.Checkpoint()
			y, _ := rs.Checkpoint()
			if !bytes.Equal(x, y) {
				t.Errorf("seed %d cut %d: the two arenas checkpoint differently at the end", seed, cut)
			}
			for _, e := range after {
				deaths += bytes.Count(e, []byte(`"event_type":"death"`))
				births += bytes.Count(e, []byte(`"event_type":"spawn"`))
			}
			ar.Close()
			rs.Close()
		}
	}
	if deaths == 0 || births == 0 {
		t.Errorf("%d deaths and %d births after the cuts: the property needs both to mean anything", deaths, births)
	}
}

// The same run checkpoints to the same bytes whatever the number of
// workers.
func TestCheckpointIsDeterministicAcrossWorkers(t *testing.T) {
	ticks := ticksOf(t, 9, 3000)
	var first []byte
	for _, workers := range []int{1, 2, 7} {
		ar := mustArena(t, Config{Seed: 9, Workers: workers}, GenerateRoster(200, 9), nil)
		stepAll(t, ar, ticks)
		data, err := ar.Checkpoint()
		ar.Close()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = data
		} else if !bytes.Equal(first, data) {
			t.Fatalf("%d workers: checkpoint differs from 1 worker's", workers)
		}
	}
}

var testSymbols = []market.Symbol{"BTC-USD", "ETH-USD", "SOL-USD"}

type plain struct{}

func (plain) Decide(in Input) Target { return Target{Side: in.Position} }

// A strategy without StrategyState makes checkpoints unavailable, never
// wrong; data that is not a checkpoint of the arena is refused.
func TestCheckpointRefusals(t *testing.T) {
	spec := StrategySpec{Name: "plain", New: func(Params, int) (Strategy, error) { return plain{}, nil }}
	ar := mustArena(t, Config{Strategies: []StrategySpec{spec}}, []Founder{{Name: "P", Strategy: "plain"}}, nil)
	if _, err := ar.Checkpoint(); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("checkpoint of a plain strategy = %v, want ErrCheckpoint", err)
	}
	ar.Close()

	cfg := Config{Seed: 5, Symbols: testSymbols}
	ar = mustArena(t, cfg, DefaultRoster(), nil)
	stepAll(t, ar, ticksOf(t, 5, 300))
	data, err := ar.Checkpoint()
	ar.Close()
	if err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.Seed = 6
	bad := bytes.Replace(data, []byte(`"cash":`), []byte(`"cash":"x`), 1)
	for name, c := range map[string]struct {
		cfg  Config
		data []byte
	}{
		"another seed":  {other, data},
		"cut short":     {cfg, data[:len(data)/2]},
		"garbled":       {cfg, bad},
		"not json":      {cfg, []byte("hello")},
		"trailing data": {cfg, append(append([]byte{}, data...), "{}"...)},
	} {
		if _, err := Restore(c.cfg, c.data, nil); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: Restore = %v, want ErrCheckpoint", name, err)
		}
	}
}

// A state taken between steps and encoded later, after the arena has gone
// on through deaths, births, scars and rounds, encodes to the bytes
// Checkpoint gave when it was taken: the copy shares nothing the arena
// changes.
func TestCheckpointStateEncodesLater(t *testing.T) {
	ticks := ticksOf(t, 2, 9000)
	cfg := Config{Seed: 2, AgentEvery: 50, Workers: 2, Symbols: testSymbols}
	a := &jsonSink{}
	ar := mustArena(t, cfg, GenerateRoster(30, 2), a)
	defer ar.Close()
	for cut := 0; cut+3000 <= len(ticks); cut += 3000 {
		want, err := ar.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		st, err := ar.CheckpointState()
		if err != nil {
			t.Fatal(err)
		}
		before := len(a.b)
		stepAll(t, ar, ticks[cut:cut+3000])
		got, err := st.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("tick %d: the state encoded after %d more events differs from the checkpoint taken with it", cut, len(a.b)-before)
		}
		if st.NextSeq() == ar.NextSeq() {
			t.Fatalf("tick %d: the arena did not go on", cut)
		}
	}
}
