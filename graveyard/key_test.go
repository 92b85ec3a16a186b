package graveyard

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyCreatesThenReuses(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	key, err := LoadOrCreateKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeySize {
		t.Fatalf("key is %d bytes, want %d", len(key), KeySize)
	}
	fi, err := os.Stat(filepath.Join(dataDir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode %#o, want 0600", got)
	}
	again, err := LoadOrCreateKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, key) {
		t.Error("second LoadOrCreateKey returned another key")
	}
	loaded, err := LoadKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded, key) {
		t.Error("LoadKey returned another key")
	}
	other, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, key) {
		t.Error("two data dirs got the same key")
	}
	assertOnlyKeyFile(t, dataDir)
}

func TestLoadOrCreateKeyRace(t *testing.T) {
	dataDir := t.TempDir()
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKey(dataDir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d got a different key", i)
		}
	}
	assertOnlyKeyFile(t, dataDir)
}

// assertOnlyKeyFile fails when dataDir holds anything but the key, such as
// a temporary file left behind.
func assertOnlyKeyFile(t *testing.T, dataDir string) {
	t.Helper()
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != KeyFile {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("data dir holds %v, want only %s", names, KeyFile)
	}
}

func TestLoadKeyRejectsBadKeyFiles(t *testing.T) {
	good := bytes.Repeat([]byte{0xc3}, KeySize)
	tests := []struct {
		name    string
		content []byte // nil: no key file
		mode    os.FileMode
		dir     bool // the key path is a directory
		want    string
	}{
		{name: "group readable", content: good, mode: 0o640, want: "group or others"},
		{name: "world readable", content: good, mode: 0o604, want: "group or others"},
		{name: "group writable", content: good, mode: 0o620, want: "group or others"},
		{name: "too short", content: good[:31], mode: 0o600, want: "31 bytes, want 32"},
		{name: "too long", content: append(bytes.Clone(good), good...), mode: 0o600, want: "64 bytes, want 32"},
		{name: "empty", content: []byte{}, mode: 0o600, want: "0 bytes, want 32"},
		{name: "all zero", content: make([]byte, KeySize), mode: 0o600, want: "all zero"},
		{name: "directory", dir: true, want: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			path := filepath.Join(dataDir, KeyFile)
			if tt.dir {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.WriteFile(path, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			for name, load := range map[string]func(string) ([]byte, error){"LoadKey": LoadKey, "LoadOrCreateKey": LoadOrCreateKey} {
				key, err := load(dataDir)
				if err == nil {
					t.Fatalf("%s accepted a bad key file", name)
				}
				if key != nil {
					t.Errorf("%s returned a key with its error", name)
				}
				msg := err.Error()
				if !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) {
					t.Errorf("%s error %q: want the file %s and %q", name, msg, path, tt.want)
				}
				assertNoSecret(t, msg, tt.content, "")
			}
			if !tt.dir {
				after, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(after, tt.content) {
					t.Error("a bad key file was replaced")
				}
			}
		})
	}
}

func TestLoadKeyNeverCreates(t *testing.T) {
	dataDir := t.TempDir()
	_, err := LoadKey(dataDir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKey on an empty data dir: %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(dataDir, KeyFile)) {
		t.Errorf("error %q does not name the key file", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, KeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKey created a key: %v", err)
	}
}

func TestLoadKeyUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, KeyFile)
	if err := os.WriteFile(path, bytes.Repeat([]byte{1}, KeySize), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	for _, load := range []func(string) ([]byte, error){LoadKey, LoadOrCreateKey} {
		if _, err := load(dataDir); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), path) {
			t.Errorf("unreadable key: %v, want a permission error naming %s", err, path)
		}
	}
}
