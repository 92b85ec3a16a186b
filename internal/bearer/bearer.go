// Package bearer checks the token a request carries, the one way both the
// WebSocket upgrade and the JSON API take it.
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

const scheme = "Bearer "

// Token is a required token. The zero value requires nothing.
type Token struct {
	sum [32]byte
	set bool
}

// New returns the token a request must carry; "" requires none.
func New(token string) Token {
	if token == "" {
		return Token{}
	}
	return Token{sum: sha256.Sum256([]byte(token)), set: true}
}

// Required reports whether a token is required at all.
func (t Token) Required() bool { return t.set }

// Allows reports whether r may pass: no token is required, or r carries it
// in a bearer Authorization header (the scheme's name in any case) or in
// ?token= (for browsers, which cannot set headers on a WebSocket); the
// header wins when both are there. Both sides are hashed before the
// constant-time comparison, so the time taken shows neither the token nor
// its length. Safe for concurrent use.
func (t Token) Allows(r *http.Request) bool {
	if !t.set {
		return true
	}
	got := r.URL.Query().Get("token")
	if a := r.Header.Get("Authorization"); len(a) > len(scheme) && strings.EqualFold(a[:len(scheme)], scheme) {
		got = a[len(scheme):]
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1
}
