package publisher

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wschat/wschat/wire"
)

// Sentinels for errors.Is on an *Error, one per kind of error response.
var (
	ErrInvalid   = errors.New("invalid request")     // 400: a bad field; fix the request
	ErrForbidden = errors.New("forbidden")           // 403: signature refused or no grant
	ErrNotFound  = errors.New("no such route")       // 404 (also: a channel that is not private)
	ErrConflict  = errors.New("conflict")            // 409: contradicts what exists
	ErrTooLarge  = errors.New("too large")           // 413: text or body over the limit
	ErrThrottled = errors.New("throttled")           // 429, after the retries
	ErrServer    = errors.New("server error")        // 5xx, after the retries
	ErrOther     = errors.New("unexpected response") // any other status
)

// Error is an error response of the publish API. Code is the function's
// code ("invalid_field", "too_large", …) or, for answers API Gateway gives
// itself (403, 404, 429), empty.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("publish API %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("publish API %d: %s", e.Status, e.Message)
}

// Is matches the sentinel of the response's kind.
func (e *Error) Is(target error) bool { return kindOf(e.Status) == target }

func kindOf(status int) error {
	switch {
	case status == http.StatusBadRequest:
		return ErrInvalid
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusTooManyRequests:
		return ErrThrottled
	case status >= 500:
		return ErrServer
	}
	return ErrOther
}

func newError(status int, body []byte) *Error {
	var b wire.ErrorBody
	if json.Unmarshal(body, &b) != nil || b.Message == "" {
		b.Message = http.StatusText(status)
	}
	return &Error{Status: status, Code: string(b.Code), Message: b.Message}
}
