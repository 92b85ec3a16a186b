package graveyard

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestWriteRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "graveyard")
	want := sample("Momentum.0")
	path := mustWrite(t, dir, want)
	if path != filepath.Join(dir, "Momentum.0.tomb") {
		t.Errorf("path %s", path)
	}
	got, err := Read(path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(testKey, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read\n got %+v\nwant %+v", got, want)
	}
}

func TestWriteMakesReadOnlyFileInPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "graveyard")
	path := mustWrite(t, dir, sample("Momentum.0"))
	for p, want := range map[string]fs.FileMode{path: 0o444, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %#o, want %#o", p, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("graveyard holds %d entries, want the tombstone alone (no temporary file)", len(entries))
	}
}

func TestWriteNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	path := mustWrite(t, dir, sample("Momentum.0"))
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	second := sample("Momentum.0")
	second.Cause = "resurrected"
	if _, err := Write(dir, testKey, second); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), path) {
		t.Errorf("second Write: %v, want ErrExists naming %s", err, path)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, first) {
		t.Error("the first tombstone changed")
	}
}

// Writers racing on one tombstone end with one file: one wins, the rest
// get ErrExists.
func TestWriteRace(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ts := sample("Momentum.0")
			ts.Trades = i
			_, errs[i] = Write(dir, testKey, ts)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrExists):
			t.Errorf("Write: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers succeeded, want 1", wins)
	}
	if ts, err := List(dir, testKey); err != nil || len(ts) != 1 {
		t.Errorf("List after the race: %d tombstones, %v", len(ts), err)
	}
}

func TestWriteRejectsHostileIDs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "graveyard")
	for _, id := range []string{"../x", "a/b", "", "..", ".", "/etc/passwd", `..\x`, ".hidden", "x\x00"} {
		ts := sample("Momentum.0")
		ts.AgentID, ts.Name = id, id
		if path, err := Write(dir, testKey, ts); err == nil {
			t.Errorf("Write accepted id %q and wrote %s", id, path)
		}
	}
	var files []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("hostile ids left files: %v", files)
	}
}

func TestReadDetectsTampering(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
	}{
		{"final capital", `"final_capital": 4100.50`, `"final_capital": 9100.50`},
		{"capital by a cent", `"final_capital": 4100.50`, `"final_capital": 4100.51`},
		{"cause", `"cause": "drawdown"`, `"cause": "scars"`},
		{"scar severity", `"severity": 3`, `"severity": 1`},
		{"duplicate key", `"severity": 2`, `"severity": 2, "kind": "drawdown"`},
		{"generation", `"generation": 1`, `"generation": 0`},
		{"last event hash", `"last_event_hash": "f`, `"last_event_hash": "e`},
		{"signature", `"signature": "`, `"signature": "0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := mustWrite(t, dir, sample("Momentum.0"))
			if tt.name == "signature" {
				flipSignature(t, path)
			} else {
				mustReplace(t, path, tt.old, tt.new)
			}
			_, err := Read(path, testKey)
			if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Read: %v, want ErrBadSignature naming %s", err, path)
			}
			// The error must not hand out the signature the edit needs.
			tampered, derr := decode(mustRead(t, path))
			if derr != nil {
				t.Fatal(derr)
			}
			if err := Sign(testKey, &tampered); err != nil {
				t.Fatal(err)
			}
			assertNoSecret(t, err.Error(), testKey, tampered.Signature)
		})
	}
}

// flipSignature changes the first hex digit of the file's signature.
func flipSignature(t *testing.T, path string) {
	t.Helper()
	b := mustRead(t, path)
	i := bytes.Index(b, []byte(`"signature": "`)) + len(`"signature": "`)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	mustRewrite(t, path, b)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadRejectsMalformedFiles(t *testing.T) {
	tests := []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func([]byte) []byte { return nil }},
		{"garbage appended", func(b []byte) []byte { return append(b, "garbage"...) }},
		{"second object", func(b []byte) []byte { return append(b, b...) }},
		{"null", func([]byte) []byte { return []byte("null\n") }},
		{"array", func([]byte) []byte { return []byte("[]") }},
		{"unknown field", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"wins"`), []byte(`"resurrected": true, "wins"`), 1)
		}},
		{"unknown scar field", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"severity"`), []byte(`"healed": true, "severity"`), 1)
		}},
		{"missing field", func(b []byte) []byte { return bytes.Replace(b, []byte(`"wins": 19,`), nil, 1) }},
		{"case-variant duplicate", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"wins": 19,`), []byte(`"wins": 19, "WINS": 20,`), 1)
		}},
		{"misspelt field", func(b []byte) []byte { return bytes.Replace(b, []byte(`"wins"`), []byte(`"Wins"`), 1) }},
		{"too large", func(b []byte) []byte { return append(b, bytes.Repeat([]byte(" "), MaxSize)...) }},
		{"money not a number", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"final_capital": 4100.50`), []byte(`"final_capital": "lots"`), 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := mustWrite(t, dir, sample("Momentum.0"))
			mustRewrite(t, path, tt.edit(mustRead(t, path)))
			_, err := Read(path, testKey)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), path) {
				t.Errorf("Read: %v, want ErrMalformed naming %s", err, path)
			}
		})
	}
}

// The values are signed, not the layout: the same tombstone compacted
// onto one line still verifies.
func TestReadAcceptsReformatted(t *testing.T) {
	path := mustWrite(t, t.TempDir(), sample("Momentum.0"))
	var buf bytes.Buffer
	if err := json.Compact(&buf, mustRead(t, path)); err != nil {
		t.Fatal(err)
	}
	mustRewrite(t, path, buf.Bytes())
	if _, err := Read(path, testKey); err != nil {
		t.Errorf("Read of the compacted tombstone: %v", err)
	}
}

// A valid tombstone copied under another agent's name does not stand in
// for that agent's.
func TestReadRejectsRenamedTombstone(t *testing.T) {
	dir := t.TempDir()
	path := mustWrite(t, dir, sample("Momentum.0"))
	other := filepath.Join(dir, "Balanced.tomb")
	if err := os.WriteFile(other, mustRead(t, path), 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(other, testKey); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "Momentum.0") {
		t.Errorf("Read of a renamed tombstone: %v, want ErrMalformed", err)
	}
}

func TestReadUnreadable(t *testing.T) {
	dir := t.TempDir()
	path := mustWrite(t, dir, sample("Momentum.0"))
	link := filepath.Join(dir, "Link.tomb")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "Gone.tomb"), dir, link} {
		if _, err := Read(p, testKey); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), p) {
			t.Errorf("Read(%s): %v, want ErrUnreadable naming it", p, err)
		}
	}
}

func TestReadWithAnotherKey(t *testing.T) {
	path := mustWrite(t, t.TempDir(), sample("Momentum.0"))
	if _, err := Read(path, bytes.Repeat([]byte{1}, KeySize)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Read with another key: %v, want ErrBadSignature", err)
	}
	if _, err := Read(path, nil); err == nil || errors.Is(err, ErrBadSignature) {
		t.Errorf("Read without a key: %v, want a key error", err)
	}
}

func TestListInOrderOfDeath(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, withDied(sample("Alpha"), 30))
	mustWrite(t, dir, withDied(sample("Beta"), 10))
	mustWrite(t, dir, withDied(sample("Gamma"), 20))
	mustWrite(t, dir, withDied(sample("Delta"), 20))
	if err := os.WriteFile(filepath.Join(dir, ".tomb-123.tmp"), []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts, err := List(dir, testKey)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, t := range ts {
		got = append(got, t.AgentID)
	}
	if want := []string{"Beta", "Delta", "Gamma", "Alpha"}; !reflect.DeepEqual(got, want) {
		t.Errorf("List order %v, want %v", got, want)
	}

	bad := filepath.Join(dir, "Gamma.tomb")
	mustReplace(t, bad, `"wins": 19`, `"wins": 20`)
	if _, err := List(dir, testKey); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), bad) {
		t.Errorf("List with a tampered file: %v, want ErrBadSignature naming %s", err, bad)
	}
}

func TestListEmpty(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "none")} {
		ts, err := List(dir, testKey)
		if err != nil || len(ts) != 0 {
			t.Errorf("List(%s) = %d tombstones, %v; want none", dir, len(ts), err)
		}
	}
}
