package client

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("client: connection closed")

// ErrSilent is why a connection on which nothing arrived for
// Options.ReadTimeout was given up.
var ErrSilent = errors.New("the server went silent")

// CloseError is a close frame from the server: its code and reason
// (docs/protocol.md lists them: 1001 server shutting down, 1008 too slow,
// …). It is why a connection ended: the Err of a Retry, or what Next
// returns when Options.NoReconnect is set.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("the server closed the connection (%d)", e.Code)
	}
	return fmt.Sprintf("the server closed the connection (%d: %s)", e.Code, e.Reason)
}

// DropError is a connection that ended without a close frame from the
// server (a reset, an EOF, a read past the size limit).
type DropError struct{ Err error }

func (e *DropError) Error() string { return "the connection dropped (" + e.Err.Error() + ")" }
func (e *DropError) Unwrap() error { return e.Err }

// DialError is a connection that could not be made: no answer (StatusCode
// 0: refused, unreachable, a TLS failure), or a WebSocket upgrade the
// server did not complete, with its HTTP status: 401 wants a token, 403
// an allowed origin, 503 is a server at its connection limit, 400 a bad
// schema or since (docs/protocol.md), anything else not a WebSocket server.
type DialError struct {
	URL        string // the address, its token redacted
	StatusCode int
	Status     string
	Err        error
}

func (e *DialError) Error() string {
	switch e.StatusCode {
	case 0:
		return fmt.Sprintf("%s: %v", e.URL, e.Err)
	case http.StatusSwitchingProtocols:
		return fmt.Sprintf("%s: not a WebSocket server (%v)", e.URL, e.Err)
	case http.StatusUnauthorized:
		return fmt.Sprintf("%s: the server refused the WebSocket upgrade: HTTP %s (it wants a token)", e.URL, e.Status)
	case http.StatusBadRequest, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return fmt.Sprintf("%s: the server refused the WebSocket upgrade: HTTP %s", e.URL, e.Status)
	}
	return fmt.Sprintf("%s: not a WebSocket server (it answered HTTP %s to the upgrade)", e.URL, e.Status)
}

func (e *DialError) Unwrap() error { return e.Err }

// SubscribeError is the server's refusal of Options.Filter (an unknown
// event type, a malformed symbol). Next returns it and stops: the
// filter is wrong, not the connection.
type SubscribeError struct{ Reason string }

func (e *SubscribeError) Error() string { return "the server refused the subscription: " + e.Reason }
