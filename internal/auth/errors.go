package auth

import (
	"errors"
	"fmt"
)

// Reason is a short, stable code that says why a token was rejected. It is
// safe to log: it never carries any part of the token.
type Reason string

// Reasons a token is rejected. Each is logged by the authorizer as "reason".
const (
	ReasonMissing         Reason = "token_missing"       // no token in the request
	ReasonTooLarge        Reason = "token_too_large"     // longer than MaxTokenSize
	ReasonMalformed       Reason = "token_malformed"     // not three base64url JSON segments
	ReasonAlgorithm       Reason = "alg_not_allowed"     // alg is not RS256/ES256, or does not fit the key
	ReasonUnknownKey      Reason = "unknown_kid"         // no key with this kid, even after a refresh
	ReasonSignature       Reason = "bad_signature"       // signature does not verify
	ReasonIssuer          Reason = "wrong_issuer"        // iss differs from the configured issuer
	ReasonAudience        Reason = "wrong_audience"      // neither aud nor client_id is accepted
	ReasonTokenUse        Reason = "wrong_token_use"     // token_use differs from the configured one
	ReasonExpired         Reason = "token_expired"       // exp (plus leeway) has passed
	ReasonNotYetValid     Reason = "token_not_yet_valid" // nbf or iat is in the future (beyond leeway)
	ReasonMissingClaim    Reason = "missing_claim"       // exp or sub is absent
	ReasonKeysUnavailable Reason = "jwks_unavailable"    // the issuer's keys could not be fetched
	ReasonBadRequest      Reason = "bad_request"         // the authorizer event lacks a methodArn
	ReasonCapabilities    Reason = "bad_capabilities"    // the wschat:channels claim is malformed
	ReasonBadSubject      Reason = "bad_subject"         // sub breaks the user id rule (wire.CheckUserID)
)

// Error is a token rejection. Its message is built from fixed text and the
// reason, never from the token, so it is safe to log in full.
type Error struct {
	Reason Reason
	// Detail is fixed, human-readable text; it may name a claim or an
	// algorithm but never a token or claim value from the request.
	Detail string
	// Err is an underlying cause on our side (an HTTP or JSON error while
	// fetching keys), if any.
	Err error
}

func (e *Error) Error() string {
	msg := "auth: " + string(e.Reason)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason carried by err, or "" if err is not (and does
// not wrap) an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func reject(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}
