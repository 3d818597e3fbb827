package client

import (
	"github.com/wschat/wschat/wire"

	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Protocol limits (docs/protocol.md), checked before anything is sent so a
// caller gets a clear error instead of a server round trip. They are the
// wire contract's.
const (
	MaxTextRunes  = wire.MaxTextRunes
	MaxFrameBytes = wire.MaxFrameBytes
	// Subprotocol is offered on every upgrade; the token follows it.
	Subprotocol = wire.Subprotocol
)

var channelRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func validChannel(ch string) error {
	if !channelRE.MatchString(ch) {
		return fmt.Errorf("%w: channel %q must match %s", ErrInvalid, ch, channelRE)
	}
	return nil
}

func validText(text string) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	if n := utf8.RuneCountInString(text); n > MaxTextRunes {
		return fmt.Errorf("%w: %d code points, at most %d", ErrTextTooLong, n, MaxTextRunes)
	}
	if strings.TrimFunc(text, unicode.IsSpace) == "" {
		return fmt.Errorf("%w: text is empty or only white space", ErrInvalid)
	}
	return nil
}

// frame is every server event in one struct, built from the wire contract's
// types: decoding into a single shape keeps the per-message cost to one pass
// of encoding/json. Fields that several events share under one name (at,
// next) are read here; each event's own fields come from wire.
type frame struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	wire.Entry
	At        time.Time       `json:"at"`
	Messages  []wire.Entry    `json:"messages"`
	More      bool            `json:"more"`
	Next      json.RawMessage `json:"next"`
	Members   []wire.Member   `json:"members"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	Action    string          `json:"action"`
	RequestID string          `json:"requestId"`
	// Protocol additions (docs/client.md, Server requirements); an old
	// server leaves them out, which the pointers tell apart from zero.
	Oldest    *int64 `json:"oldest"`
	Truncated bool   `json:"truncated"`
	Through   *int64 `json:"through"`
	After     *int64 `json:"after"`
	LastSeq   *int64 `json:"lastSeq"`
	Ref       string `json:"ref"`
	// reauthed's new expiry; direct's first opening; removed's reason.
	ExpiresAt time.Time `json:"expiresAt"`
	Created   bool      `json:"created"`
	Reason    string    `json:"reason"`
}

func message(channel string, e wire.Entry) Message {
	return Message{Channel: channel, Seq: e.Seq, UserID: e.UserID, UserName: e.UserName,
		Text: e.Text, ClientID: e.ClientID, SentAt: e.SentAt}
}

func (f *frame) presence() Presence {
	return Presence{Channel: f.Channel, UserID: f.UserID, UserName: f.UserName, At: f.At}
}

func (f *frame) serverError() *ServerError {
	return &ServerError{Code: f.Code, Message: f.Message, Action: f.Action, RequestID: f.RequestID}
}

// historyNext reads history's integer `next`; members' `next` is a string.
func (f *frame) historyNext() int64 {
	var n int64
	_ = json.Unmarshal(f.Next, &n)
	return n
}

func (f *frame) membersNext() string {
	var s string
	_ = json.Unmarshal(f.Next, &s)
	return s
}
