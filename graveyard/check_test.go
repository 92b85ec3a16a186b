package graveyard

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, sample("Good"))
	tampered := mustWrite(t, dir, sample("Tampered"))
	mustReplace(t, tampered, `"peak_capital": 12000.00`, `"peak_capital": 99000.00`)
	truncated := mustWrite(t, dir, sample("Truncated"))
	b := mustRead(t, truncated)
	mustRewrite(t, truncated, b[:len(b)-20])
	mustWrite(t, dir, sample("Alive"))
	if err := os.Mkdir(filepath.Join(dir, "Dir.tomb"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o600); err != nil {
		t.Fatal(err)
	}
	dead := map[string]bool{"Good": true, "Tampered": true, "Truncated": true, "Gone": true, "Dir": true, "Alive": false}

	type row struct {
		file string
		kind ProblemKind
	}
	var got []row
	problems := Check(dir, testKey, dead)
	for _, p := range problems {
		got = append(got, row{filepath.Base(p.Path), p.Kind})
		if !strings.Contains(p.String(), p.Path) || !strings.Contains(p.String(), string(p.Kind)) {
			t.Errorf("problem %q does not name its file and kind", p)
		}
	}
	want := []row{
		{"Alive.tomb", Extra},
		{"Dir.tomb", Unreadable},
		{"Gone.tomb", Missing},
		{"Tampered.tomb", BadSignature},
		{"Truncated.tomb", Malformed},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check\n got %v\nwant %v", got, want)
	}
	if again := Check(dir, testKey, dead); !reflect.DeepEqual(again, problems) {
		t.Error("Check is not deterministic")
	}
}

func TestCheckClean(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, sample("A"))
	mustWrite(t, dir, sample("B"))
	if p := Check(dir, testKey, map[string]bool{"A": true, "B": true}); len(p) != 0 {
		t.Errorf("Check of a sound graveyard: %v", p)
	}
	if p := Check(filepath.Join(dir, "none"), testKey, nil); len(p) != 0 {
		t.Errorf("Check of an absent graveyard with no dead: %v", p)
	}
}

func TestCheckMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "graveyard")
	p := Check(dir, testKey, map[string]bool{"A": true, "../x": true})
	if len(p) != 2 || p[0].Kind != Missing || p[1].Kind != Missing {
		t.Fatalf("Check of a deleted graveyard: %v", p)
	}
}

func TestCheckBadKey(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, sample("A"))
	p := Check(dir, nil, map[string]bool{"A": true})
	if len(p) != 1 || p[0].Kind != Unreadable || p[0].Err == nil {
		t.Errorf("Check without a key: %v, want one problem", p)
	}
}
