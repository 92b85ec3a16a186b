package graveyard

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// ProblemKind says what is wrong with a tombstone.
type ProblemKind string

// The problems Check reports.
const (
	Missing      ProblemKind = "missing"       // an agent died but its tombstone is absent
	Extra        ProblemKind = "extra"         // a tombstone for an agent that did not die
	Unreadable   ProblemKind = "unreadable"    // the file (or the directory) cannot be read
	Malformed    ProblemKind = "malformed"     // not a well-formed tombstone; see ErrMalformed
	BadSignature ProblemKind = "bad signature" // edited, or signed with another key
)

// Problem is one thing wrong in a graveyard.
type Problem struct {
	// Path is the tombstone file: where it should be for Missing, the
	// directory when the directory itself cannot be read.
	Path string
	// Agent is the agent the file is named for.
	Agent string
	Kind  ProblemKind
	// Err is the error Read returned, or nil for Missing and Extra.
	Err error
}

// String describes the problem, naming the file.
func (p Problem) String() string {
	switch {
	case p.Err != nil:
		return p.Err.Error()
	case p.Kind == Missing:
		return fmt.Sprintf("tombstone %s: missing: agent %s died but has no tombstone", p.Path, p.Agent)
	case p.Kind == Extra:
		return fmt.Sprintf("tombstone %s: extra: agent %s is not among the dead", p.Path, p.Agent)
	}
	return fmt.Sprintf("tombstone %s: %s", p.Path, p.Kind)
}

// Check verifies the graveyard in dir against dead, the ids of every agent
// that died (an id counts when dead[id] is true), and reports every
// problem: a dead agent without a tombstone (Missing), a tombstone for an
// agent not in dead (Extra), and each *.tomb file that Read rejects
// (Unreadable, Malformed, BadSignature — such a file is not also reported
// as Extra). A missing dir holds no tombstones. Problems are sorted by path,
// then kind; none means the graveyard holds. A key that is not KeySize bytes
// is reported as one Unreadable problem for dir.
func Check(dir string, key []byte, dead map[string]bool) []Problem {
	if err := checkKey(key); err != nil {
		return []Problem{{Path: dir, Kind: Unreadable, Err: err}}
	}
	names, err := tombNames(dir)
	if err != nil {
		return []Problem{{Path: dir, Kind: Unreadable, Err: err}}
	}
	var out []Problem
	found := make(map[string]bool, len(names))
	for _, name := range names {
		path := filepath.Join(dir, name)
		id := strings.TrimSuffix(name, Ext)
		found[id] = true
		if _, err := Read(path, key); err != nil {
			out = append(out, Problem{Path: path, Agent: id, Kind: kindOf(err), Err: err})
		} else if !dead[id] {
			out = append(out, Problem{Path: path, Agent: id, Kind: Extra})
		}
	}
	for id, ok := range dead {
		if ok && !found[id] {
			p := Problem{Path: filepath.Join(dir, id+Ext), Agent: id, Kind: Missing}
			if err := checkID(id); err != nil {
				p.Err = fmt.Errorf("tombstone of %q: missing: %w", id, err)
			}
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(string(a.Kind), string(b.Kind)))
	})
	return out
}

func kindOf(err error) ProblemKind {
	switch {
	case errors.Is(err, ErrBadSignature):
		return BadSignature
	case errors.Is(err, ErrMalformed):
		return Malformed
	}
	return Unreadable
}
