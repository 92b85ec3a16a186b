package graveyard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lineage-arena/lineage/arena"
	"github.com/lineage-arena/lineage/market"
)

// testKey is a fixed key for tests that do not exercise key files.
var testKey = bytes.Repeat([]byte{0x5a}, KeySize)

// sample is a complete tombstone of a child that died of drawdown with two
// scars. Each call returns a fresh copy.
func sample(id string) Tombstone {
	h := sha256.Sum256([]byte("last event of " + id))
	return Tombstone{
		AgentID:    id,
		Name:       id,
		Strategy:   "momentum",
		Generation: 1,
		Parent:     "Momentum",
		Born:       Moment{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Seq: 17, Tick: 100},
		Died:       Moment{Time: time.Date(2026, 1, 2, 4, 0, 0, 250_000_000, time.UTC), Seq: 9001, Tick: 3500},
		Cause:      arena.CauseDrawdown,
		Scars: []arena.Scar{
			{Kind: arena.ScarDrawdown, Severity: 3, Magnitude: 0.17, Equity: market.USD(8_500), Tick: 2000, Seq: 6000},
			{Kind: arena.ScarLoss, Severity: 2, Magnitude: 0.055, Equity: market.USD(7_000), Tick: 3000, Seq: 8000},
		},
		Trades:         42,
		Wins:           19,
		FinalCapital:   market.Money(4_100_500_000),
		PeakCapital:    market.USD(12_000),
		InitialCapital: market.USD(10_000),
		LifespanTicks:  3400,
		Params:         arena.Params{"fast": 30, "slow": 120, "risk": 0.25},
		LastEventHash:  hex.EncodeToString(h[:]),
	}
}

// withDied returns t with its death at sequence seq.
func withDied(t Tombstone, seq uint64) Tombstone {
	t.Died.Seq = seq
	return t
}

func mustWrite(t *testing.T, dir string, ts Tombstone) string {
	t.Helper()
	path, err := Write(dir, testKey, ts)
	if err != nil {
		t.Fatalf("Write(%s): %v", ts.AgentID, err)
	}
	return path
}

// mustReplace rewrites the file at path with old replaced by new once; the
// edit must change the file.
func mustReplace(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q:\n%s", filepath.Base(path), old, b)
	}
	mustRewrite(t, path, bytes.Replace(b, []byte(old), []byte(new), 1))
}

// mustRewrite replaces the read-only file at path with b.
func mustRewrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o444); err != nil {
		t.Fatal(err)
	}
}

// assertNoSecret fails when msg holds the key, raw or in hex, or secret.
func assertNoSecret(t *testing.T, msg string, key []byte, secret string) {
	t.Helper()
	if len(key) > 0 && (bytes.Contains([]byte(msg), key) || bytes.Contains([]byte(msg), []byte(hex.EncodeToString(key)))) {
		t.Errorf("error reveals the key: %s", msg)
	}
	if secret != "" && bytes.Contains([]byte(msg), []byte(secret)) {
		t.Errorf("error reveals %q: %s", secret, msg)
	}
}
