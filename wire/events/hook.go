package events

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// The before-send hook: a Lambda function the team owns, which the chat
// function invokes (lambda:InvokeFunction, synchronously) before it stores
// a message, with a BeforeSend, and which answers a Verdict. The hook has a
// time budget (the stack's, a few hundred milliseconds by default); an
// answer that is late, an error, or not a valid Verdict is a hook failure,
// which the stack's setting turns into an allow (fail open) or a refusal
// with code "unavailable" (fail closed).

// HookVersion is the version of BeforeSend and Verdict.
const HookVersion = "1"

// Hook actions: what the sender asked for.
const (
	// HookActionSend: a new message (a reply when ReplyTo is set).
	HookActionSend = "send"
	// HookActionEdit: a new text for the sender's message Seq.
	HookActionEdit = "edit"
)

// BeforeSend is the hook's event: one message, or one edit's new text,
// about to be stored.
type BeforeSend struct {
	Version string `json:"version"`
	Action  string `json:"action"`
	Channel string `json:"channel"`
	// ClientID is the sender's id of the message; a retry of the same
	// message carries the same one and may call the hook again, so a hook
	// should answer the same message the same way.
	ClientID string `json:"clientId"`
	Text     string `json:"text"`
	// Seq is the message an edit changes; absent for a send.
	Seq int64 `json:"seq,omitempty"`
	// ReplyTo is the message a reply answers; absent otherwise.
	ReplyTo      int64  `json:"replyTo,omitempty"`
	User         User   `json:"user"`
	ConnectionID string `json:"connectionId"`
	// RequestID is API Gateway's id of the request, the one the sender's
	// error frame quotes.
	RequestID string `json:"requestId,omitempty"`
}

// Verdicts.
const (
	Allow   = "allow"
	Reject  = "reject"
	Replace = "replace"
)

// MaxReasonRunes bounds a rejection's reason, which the sender sees.
const MaxReasonRunes = 200

// Verdict is the hook's answer: Allow stores the message as sent; Reject
// stores nothing and the sender gets an error frame with code "rejected"
// and Reason as its message; Replace stores Text instead (redaction), which
// must follow the protocol's text rules (1-4,000 code points, not only
// white space, no control characters but tab and line breaks).
type Verdict struct {
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
	Text    string `json:"text,omitempty"`
}

// Check reports what makes v unusable (the hook failed), or nil. The text
// of a Replace is checked by the server's own text rules too.
func (v Verdict) Check() error {
	switch v.Verdict {
	case Allow:
		return nil
	case Reject:
		if utf8.RuneCountInString(v.Reason) > MaxReasonRunes || !utf8.ValidString(v.Reason) {
			return fmt.Errorf("reject reason: want at most %d code points of valid UTF-8", MaxReasonRunes)
		}
		return nil
	case Replace:
		if v.Text == "" {
			return errors.New("replace without text")
		}
		return nil
	case "":
		return errors.New("no verdict")
	}
	return fmt.Errorf("verdict %q: want %s, %s or %s", v.Verdict, Allow, Reject, Replace)
}
