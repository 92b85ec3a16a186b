package graveyard

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// KeyFile is the name of the signing key's file in the data directory.
const KeyFile = "graveyard.key"

// LoadOrCreateKey returns the signing key kept in <dataDir>/graveyard.key,
// creating dataDir (mode 0700) and the key on first use: KeySize bytes from
// crypto/rand, written to a temporary file of mode 0600, synced, and linked
// into place only if no key exists yet, so processes racing to create it
// all end with the one key that won. An existing key is checked as LoadKey
// checks it; a bad key file is an error, never replaced. Errors name the
// file and never hold the key.
func LoadOrCreateKey(dataDir string) ([]byte, error) {
	key, err := LoadKey(dataDir)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKey(dataDir); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return LoadKey(dataDir)
}

// LoadKey returns the signing key kept in <dataDir>/graveyard.key and never
// creates it. It is an error, naming the file and what is wrong, when the
// file is missing (the error wraps fs.ErrNotExist), unreadable, not a
// regular file, not exactly KeySize bytes, all zeros, or accessible to
// group or others (mode & 0o077 != 0). Errors never hold the key.
func LoadKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, KeyFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("graveyard key %s: %w", path, pathErr(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("graveyard key %s: %w", path, pathErr(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("graveyard key %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("graveyard key %s: mode %#o lets group or others access it; want 0600 (chmod 600 %s)", path, perm, path)
	}
	key, err := io.ReadAll(io.LimitReader(f, KeySize+1))
	if err != nil {
		return nil, fmt.Errorf("graveyard key %s: %w", path, pathErr(err))
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("graveyard key %s: %d bytes, want %d", path, max(fi.Size(), int64(len(key))), KeySize)
	}
	if allZero(key) {
		return nil, fmt.Errorf("graveyard key %s: all zero bytes", path)
	}
	return key, nil
}

// createKey writes a new random key and links it into place. It returns an
// error wrapping fs.ErrExist when a key appeared first.
func createKey(dataDir string) (err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create graveyard key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("create graveyard key: %w", err)
	}
	path := filepath.Join(dataDir, KeyFile)
	f, err := os.CreateTemp(dataDir, "."+KeyFile+"-*.tmp")
	if err != nil {
		return fmt.Errorf("create graveyard key %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := writeSync(f, key, 0o600); err != nil {
		return fmt.Errorf("create graveyard key %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("create graveyard key %s: %w", path, pathErr(err))
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("create graveyard key %s: %w", path, err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("create graveyard key %s: %w", path, err)
	}
	return nil
}

// writeSync writes b to f, sets its mode, syncs and closes it.
func writeSync(f *os.File, b []byte, mode os.FileMode) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// pathErr drops the path an *fs.PathError or *os.LinkError repeats, since
// the caller's message already names the file; errors.Is still sees the
// cause.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
