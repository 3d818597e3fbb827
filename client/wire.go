package client

import (
	"github.com/wschat/wschat/wire"

	"encoding/json"
	"fmt"
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

func validChannel(ch string) error {
	if !wire.ValidChannel(ch) {
		return fmt.Errorf("%w: channel %q must match ^[a-z0-9][a-z0-9_-]{0,63}$", ErrInvalid, ch)
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
	At       time.Time       `json:"at"`
	Messages []wire.Entry    `json:"messages"`
	More     bool            `json:"more"`
	Next     json.RawMessage `json:"next"`
	// Members is a list in members answers and a count in quiet presence
	// events; Msg is an error's text and an update's message state.
	Members   json.RawMessage `json:"members"`
	Code      string          `json:"code"`
	Msg       json.RawMessage `json:"message"`
	Action    string          `json:"action"`
	RequestID string          `json:"requestId"`
	// The lifecycle (docs/protocol.md).
	Parent    *wire.Entry        `json:"parent"`
	Updates   []wire.UpdateEntry `json:"updates"`
	States    []wire.Entry       `json:"states"`
	Target    int64              `json:"target"`
	Emoji     string             `json:"emoji"`
	ExpiresIn int64              `json:"expiresIn"`
	LastRead  *int64             `json:"lastRead"`
	Thread    int64              `json:"thread"`
	Channels  []wire.ChannelInfo `json:"channels"`
	// Protocol additions (docs/client.md, Server requirements); an old
	// server leaves them out, which the pointers tell apart from zero.
	Oldest    *int64 `json:"oldest"`
	Truncated bool   `json:"truncated"`
	Through   *int64 `json:"through"`
	After     *int64 `json:"after"`
	LastSeq   *int64 `json:"lastSeq"`
	Ref       string `json:"ref"`
	// ConnectionID is in a pong (and in API Gateway's own error frames).
	ConnectionID string `json:"connectionId"`
	// reauthed's new expiry; direct's first opening; removed's reason.
	ExpiresAt time.Time `json:"expiresAt"`
	Created   bool      `json:"created"`
	Reason    string    `json:"reason"`
	// Moderation (docs/protocol.md): an event's op, who moderated, a
	// mute's end, a role; a history page's moderation actions.
	Op         string                 `json:"op"`
	ByID       string                 `json:"byId"`
	ByName     string                 `json:"byName"`
	Until      *time.Time             `json:"until"`
	Role       string                 `json:"role"`
	Moderation []wire.ModerationEntry `json:"moderation"`
}

// moderation reads a live moderation frame.
func (f *frame) moderation() Moderation {
	return Moderation{Channel: f.Channel, ModerationEntry: wire.ModerationEntry{Seq: f.Seq, Op: f.Op, UserID: f.UserID,
		UserName: f.UserName, ByID: f.ByID, ByName: f.ByName, From: f.From, Until: f.Until, Role: f.Role,
		Reason: f.Reason, ClientID: f.ClientID, At: f.At}}
}

func message(channel string, e wire.Entry) Message {
	m := Message{Channel: channel, Seq: e.Seq, UserID: e.UserID, UserName: e.UserName,
		Text: e.Text, ClientID: e.ClientID, SentAt: e.SentAt, From: e.From,
		ReplyTo: e.ReplyTo, Rev: max(e.Rev, e.Seq), Deleted: e.Deleted, Replies: e.Replies}
	if e.EditedAt != nil {
		m.Edited, m.EditedAt = true, *e.EditedAt
	}
	for _, r := range e.Reactions {
		m.Reactions = append(m.Reactions, Reaction{Emoji: r.Emoji, Count: r.Count, Mine: r.Mine})
	}
	return m
}

func (f *frame) presence() Presence {
	return Presence{Channel: f.Channel, UserID: f.UserID, UserName: f.UserName, At: f.At}
}

func (f *frame) serverError() *ServerError {
	var text string
	_ = json.Unmarshal(f.Msg, &text)
	return &ServerError{Code: f.Code, Message: text, Action: f.Action, RequestID: f.RequestID}
}

// members reads a members answer's list.
func (f *frame) members() []wire.Member {
	var ms []wire.Member
	_ = json.Unmarshal(f.Members, &ms)
	return ms
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
