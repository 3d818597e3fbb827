package client

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Protocol limits (docs/protocol.md), checked before anything is sent so a
// caller gets a clear error instead of a server round trip.
const (
	MaxTextRunes  = 4000
	MaxFrameBytes = 128 * 1024
	// Subprotocol is offered on every upgrade; the token follows it.
	Subprotocol = "wschat.v1"
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

// request is every client frame; omitempty leaves out what an action does
// not define, since the server's decoder rejects unknown fields.
type request struct {
	Action   string `json:"action"`
	Channel  string `json:"channel,omitempty"`
	Text     string `json:"text,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	After    *int64 `json:"after,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
	Ref      string `json:"ref,omitempty"`
}

// wireMessage is a message as it appears in `message` events and history.
type wireMessage struct {
	Seq      int64  `json:"seq"`
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	Text     string `json:"text"`
	ClientID string `json:"clientId"`
	SentAt   string `json:"sentAt"`
}

// frame is every server event in one struct: decoding into a single shape
// keeps the per-message cost to one pass of encoding/json.
type frame struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	wireMessage
	At        string          `json:"at"`
	Messages  []wireMessage   `json:"messages"`
	More      bool            `json:"more"`
	Next      json.RawMessage `json:"next"`
	Members   []wireMember    `json:"members"`
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
}

type wireMember struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	JoinedAt string `json:"joinedAt"`
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func (w wireMessage) message(channel string) Message {
	return Message{Channel: channel, Seq: w.Seq, UserID: w.UserID, UserName: w.UserName,
		Text: w.Text, ClientID: w.ClientID, SentAt: parseTime(w.SentAt)}
}

func (f *frame) presence() Presence {
	return Presence{Channel: f.Channel, UserID: f.UserID, UserName: f.UserName, At: parseTime(f.At)}
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
