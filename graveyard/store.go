package graveyard

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	// Ext is the extension of a tombstone file.
	Ext = ".tomb"
	// MaxSize bounds a tombstone file; Read rejects a larger one.
	MaxSize = 1 << 20
)

// Write signs t with key (replacing any Signature it holds) and writes it
// to <dir>/<agent-id>.tomb as indented JSON, creating dir with mode 0700 if
// needed. The file appears whole or not at all: the JSON goes to a
// temporary file in dir, made read-only (0444) and synced, which is then
// hard-linked to its final name — a link never replaces an existing file —
// and the directory is synced. If the tombstone already exists, Write
// leaves it untouched and returns an error wrapping ErrExists. It returns
// the tombstone's path, or an error when t is invalid (see Sign), key is
// not KeySize bytes, or the disk fails.
func Write(dir string, key []byte, t Tombstone) (string, error) {
	if err := Sign(key, &t); err != nil {
		return "", err
	}
	n := normalize(t)
	n.Signature = t.Signature
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode tombstone %s: %w", t.AgentID, err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, t.AgentID+Ext)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("write tombstone %s: %w", path, err)
	}
	if _, err := os.Lstat(path); err == nil {
		return "", fmt.Errorf("write tombstone %s: %w", path, ErrExists)
	}
	f, err := os.CreateTemp(dir, ".tomb-*.tmp")
	if err != nil {
		return "", fmt.Errorf("write tombstone %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := writeSync(f, b, 0o444); err != nil {
		return "", fmt.Errorf("write tombstone %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("write tombstone %s: %w", path, ErrExists)
		}
		return "", fmt.Errorf("write tombstone %s: %w", path, pathErr(err))
	}
	if err := os.Remove(tmp); err != nil {
		return "", fmt.Errorf("write tombstone %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("write tombstone %s: %w", path, err)
	}
	return path, nil
}

// Read reads and verifies the tombstone at path. The error names the file
// and wraps ErrUnreadable (it cannot be read, or is not a regular file),
// ErrMalformed (larger than MaxSize, not one JSON object, unknown, missing
// or misspelt fields, trailing data, invalid content, or a file name other
// than <agent-id>.tomb) or ErrBadSignature (its content is not what was
// signed with key). A key that is not KeySize bytes is an error too.
func Read(path string, key []byte) (Tombstone, error) {
	if err := checkKey(key); err != nil {
		return Tombstone{}, err
	}
	b, err := readBounded(path)
	if err != nil {
		return Tombstone{}, fmt.Errorf("tombstone %s: %w: %w", path, ErrUnreadable, err)
	}
	if len(b) > MaxSize {
		return Tombstone{}, fmt.Errorf("tombstone %s: %w: larger than %d bytes", path, ErrMalformed, MaxSize)
	}
	t, err := decode(b)
	if err != nil {
		return Tombstone{}, fmt.Errorf("tombstone %s: %w: %v", path, ErrMalformed, err)
	}
	if err := Verify(key, t); err != nil {
		return Tombstone{}, fmt.Errorf("tombstone %s: %w", path, err)
	}
	if err := validate(t); err != nil {
		return Tombstone{}, fmt.Errorf("tombstone %s: %w: %v", path, ErrMalformed, err)
	}
	if filepath.Base(path) != t.AgentID+Ext {
		return Tombstone{}, fmt.Errorf("tombstone %s: %w: holds the tombstone of %s", path, ErrMalformed, t.AgentID)
	}
	return t, nil
}

// List reads and verifies every *.tomb file in dir and returns the
// tombstones in order of death (died sequence, then agent id). A missing
// dir is an empty graveyard. The first file that fails, in name order, is
// the error, as Read reports it. Other files (such as temporary files left
// by a crash during Write) are ignored.
func List(dir string, key []byte) ([]Tombstone, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	names, err := tombNames(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Tombstone, 0, len(names))
	for _, name := range names {
		t, err := Read(filepath.Join(dir, name), key)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Tombstone) int {
		return cmp.Or(cmp.Compare(a.Died.Seq, b.Died.Seq), strings.Compare(a.AgentID, b.AgentID))
	})
	return out, nil
}

// tombNames returns the names of dir's *.tomb entries, sorted; none when
// dir does not exist.
func tombNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("graveyard %s: %w: %w", dir, ErrUnreadable, pathErr(err))
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), Ext) {
			names = append(names, e.Name())
		}
	}
	return names, nil // os.ReadDir sorts by name
}

// readBounded reads at most MaxSize+1 bytes of a regular file without
// following a symbolic link at path.
func readBounded(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, pathErr(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, pathErr(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, pathErr(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, pathErr(err)
	}
	return b, nil
}

// fieldNames is the set of a tombstone's top-level JSON keys.
var fieldNames = func() map[string]bool {
	b, err := json.Marshal(Tombstone{})
	if err != nil {
		panic(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	names := make(map[string]bool, len(m))
	for k := range m {
		names[k] = true
	}
	return names
}()

// decode parses one JSON object holding exactly a tombstone's keys (spelt
// exactly, none missing, none unknown — nested objects may not hold
// unknown keys either) and nothing after it.
func decode(b []byte) (Tombstone, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return Tombstone{}, err
	}
	if keys == nil {
		return Tombstone{}, errors.New("not a JSON object")
	}
	for k := range keys {
		if !fieldNames[k] {
			return Tombstone{}, fmt.Errorf("unknown field %q", k)
		}
	}
	for k := range fieldNames {
		if _, ok := keys[k]; !ok {
			return Tombstone{}, fmt.Errorf("missing field %q", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t Tombstone
	if err := dec.Decode(&t); err != nil {
		return Tombstone{}, err
	}
	return t, nil
}
