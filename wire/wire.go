// Package wire is the wschat wire contract, written once: the JSON shapes a
// WebSocket client and the server exchange (requests, events, error codes,
// limits) and the bodies of the publish HTTP API. The server
// (internal/protocol, internal/publish) and the SDKs (the client and
// publisher modules) import it, so neither side restates a field.
//
// It is its own module with no dependencies beyond the standard library:
// importing the Go client or the publisher never brings server code, the
// AWS CDK or a Lambda runtime into a module graph. docs/protocol.md and
// docs/publish.md describe the same contract for client authors.
package wire

// Subprotocol is offered by clients on every upgrade and echoed by the
// server; the token may follow it in Sec-WebSocket-Protocol.
const Subprotocol = "wschat.v1"

// ReplacesParameter is the query parameter of the upgrade in which a client
// that gave up on a silent connection (half-open: it saw no close) names
// that connection, by the id its pong carried. The server closes the old
// connection at once when it is the same user's, so fan-out and presence
// stop counting it without waiting for API Gateway's 10-minute idle cut.
const ReplacesParameter = "replaces"

// Limits of the protocol. They are part of the contract with clients and are
// documented in docs/protocol.md.
const (
	// MaxFrameBytes is API Gateway's limit on one WebSocket message (a client
	// message, and a payload posted through @connections).
	MaxFrameBytes = 128 * 1024
	// MaxTextRunes bounds the text of one chat message, in Unicode code points.
	// Even fully escaped (6 bytes per code point) a message event stays far
	// below MaxFrameBytes.
	MaxTextRunes = 4000
	// MaxChannelLen bounds a channel name; see ValidChannel for the alphabet.
	MaxChannelLen = 64
	// MaxClientIDLen bounds a send's clientId; see ValidClientID.
	MaxClientIDLen = 64
	// MaxCursorLen bounds the opaque members cursor a client echoes back.
	MaxCursorLen = 512
	// DefaultHistoryLimit and MaxHistoryLimit bound the messages of one
	// history request.
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 100
	// MaxSeq bounds "after": seq values are JSON numbers, exact in every
	// client language up to 2^53.
	MaxSeq = 1 << 53
)

// Code classifies an error reported to a client.
type Code string

// Error codes. Clients may branch on them; the message text is for humans.
const (
	// CodeInvalidJSON: the frame is not one JSON object of valid UTF-8 text
	// (also binary frames and duplicate keys).
	CodeInvalidJSON Code = "invalid_json"
	// CodeUnknownAction: "action" names no action.
	CodeUnknownAction Code = "unknown_action"
	// CodeInvalidField: a field is missing, empty, of the wrong type, out of
	// bounds, or not defined for the action.
	CodeInvalidField Code = "invalid_field"
	// CodeTooLarge: a size or count limit is exceeded (frame size, text
	// length, channels per connection).
	CodeTooLarge Code = "too_large"
	// CodeNotMember: the action needs membership of the channel.
	CodeNotMember Code = "not_member"
	// CodeRateLimited: the connection sent more than its rate allows; the
	// request had no effect.
	CodeRateLimited Code = "rate_limited"
	// CodeUnauthorized: the connection is not (or no longer) registered.
	CodeUnauthorized Code = "unauthorized"
	// CodeInternal: the server failed; the request may be retried (a send
	// with the same clientId is never stored twice).
	CodeInternal Code = "internal"
	// CodeForbidden: the connection's channel capabilities (from its token,
	// or the environment's default) do not grant this action on this
	// channel. Retrying with the same token cannot succeed.
	CodeForbidden Code = "forbidden"
	// CodeRejected: the stack's before-send hook (a check the application
	// runs on every message) refused the message; the message is its
	// reason, for the sender. Retrying the same text gets the same answer.
	CodeRejected Code = "rejected"
	// CodeUnavailable: something the request needs did not answer in time
	// (the before-send hook, where the stack fails closed; a dependency of
	// the publish API); the request had no effect. Retry later (a send
	// with the same clientId, a publish with the same id).
	CodeUnavailable Code = "unavailable"
)

// Codes lists every error code, for documentation and tests.
var Codes = []Code{
	CodeInvalidJSON, CodeUnknownAction, CodeInvalidField, CodeTooLarge,
	CodeNotMember, CodeRateLimited, CodeUnauthorized, CodeInternal,
	CodeForbidden, CodeTokenExpired, CodeTokenRevoked, CodeMuted, CodeBanned, CodeRejected, CodeUnavailable,
}

// ValidChannel reports whether name matches ^[a-z0-9][a-z0-9_-]{0,63}$:
// lower case so "General" and "general" cannot be two channels, and no '#' so
// a name cannot forge a storage key.
func ValidChannel(name string) bool {
	if len(name) == 0 || len(name) > MaxChannelLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidClientID reports whether id matches ^[A-Za-z0-9._:-]{1,64}$, which
// admits UUIDs, ULIDs and "tab1:42"-style counters.
func ValidClientID(id string) bool {
	if len(id) == 0 || len(id) > MaxClientIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
