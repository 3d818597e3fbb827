// Package protocol is the server's side of the wire contract (package wire,
// which the SDKs import too): it decodes and validates the requests a client
// sends and encodes the events the server posts back. The shapes, error codes
// and limits are wire's, named here by alias so handlers keep one import.
// docs/protocol.md is the reference for client authors.
//
// Decoding is strict: a request must be one JSON object of valid UTF-8 with a
// known "action", only the fields that action defines, each of the right JSON
// type and within its limits. Every rejection is an *Error whose Code the
// server reports to the client in an "error" event.
package protocol

import (
	"fmt"

	"github.com/wschat/wschat/wire"
)

// Limits of the protocol: the wire contract's (docs/protocol.md), plus the
// server's own defaults.
const (
	MaxFrameBytes       = wire.MaxFrameBytes
	MaxTextRunes        = wire.MaxTextRunes
	MaxChannelLen       = wire.MaxChannelLen
	MaxClientIDLen      = wire.MaxClientIDLen
	MaxCursorLen        = wire.MaxCursorLen
	DefaultHistoryLimit = wire.DefaultHistoryLimit
	MaxHistoryLimit     = wire.MaxHistoryLimit
	MaxSeq              = wire.MaxSeq
	// DefaultMaxChannels is how many channels one connection may join unless
	// WSCHAT_MAX_CHANNELS says otherwise.
	DefaultMaxChannels = 20
)

// Code classifies an error reported to a client (wire.Code).
type Code = wire.Code

// Error codes: the wire contract's.
const (
	CodeInvalidJSON   = wire.CodeInvalidJSON
	CodeUnknownAction = wire.CodeUnknownAction
	CodeInvalidField  = wire.CodeInvalidField
	CodeTooLarge      = wire.CodeTooLarge
	CodeNotMember     = wire.CodeNotMember
	CodeRateLimited   = wire.CodeRateLimited
	CodeUnauthorized  = wire.CodeUnauthorized
	CodeInternal      = wire.CodeInternal
	CodeForbidden     = wire.CodeForbidden
	CodeTokenExpired  = wire.CodeTokenExpired
	CodeTokenRevoked  = wire.CodeTokenRevoked
	CodeRejected      = wire.CodeRejected
	CodeUnavailable   = wire.CodeUnavailable
)

// Codes lists every error code, for documentation and tests.
var Codes = wire.Codes

// Error is a request the server rejects. Its Message never contains the
// client's message text, so it is safe to log.
type Error struct {
	Code    Code
	Message string
	Action  string // the request's action when known
}

func (e *Error) Error() string {
	if e.Action != "" {
		return fmt.Sprintf("%s: %s: %s", e.Action, e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, action, format string, args ...any) *Error {
	return &Error{Code: code, Action: action, Message: fmt.Sprintf(format, args...)}
}

// ValidChannel reports whether name is a valid channel name (wire.ValidChannel).
func ValidChannel(name string) bool { return wire.ValidChannel(name) }

// ValidClientID reports whether id is a valid clientId (wire.ValidClientID).
func ValidClientID(id string) bool { return wire.ValidClientID(id) }
