// Package graveyard keeps the signed record of the dead: one tombstone per
// death, written once, made read-only and never overwritten.
//
// A tombstone is a JSON file <dir>/<agent-id>.tomb signed with HMAC-SHA256
// under a random 32-byte key kept in <data-dir>/graveyard.key (mode 0600).
// There is no unkeyed fallback: every function that signs or verifies
// refuses a key that is not exactly KeySize bytes, and a key file that is
// missing, unreadable, of the wrong size or open to group or others is an
// error. Anyone who holds the key can forge tombstones; the signature
// detects edits made without it.
//
// The functions are safe for concurrent use; Write never replaces a file,
// so two writers of the same tombstone end with one file and one ErrExists.
//
// On disk, a data directory holds:
//
//	graveyard.key          32 random bytes, mode 0600 (LoadOrCreateKey)
//	graveyard/<id>.tomb    one indented JSON tombstone per death, mode 0444 (Write)
//
// Back up the key with the tombstones: without it they cannot be verified.
package graveyard
