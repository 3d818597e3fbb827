package protocol

import "github.com/wschat/wschat/wire"

// The message lifecycle's requests, events and limits: the wire
// contract's (wire/lifecycle.go).
type (
	Edit        = wire.Edit
	Delete      = wire.Delete
	React       = wire.React
	Unreact     = wire.Unreact
	Typing      = wire.Typing
	Read        = wire.Read
	Channels    = wire.Channels
	Reaction    = wire.Reaction
	UpdateEntry = wire.UpdateEntry
	Update      = wire.Update
	TypingEvent = wire.TypingEvent
	ReadEvent   = wire.ReadEvent
	ChannelInfo = wire.ChannelInfo
	ChannelList = wire.ChannelList
)

// Lifecycle event types.
const (
	TypeUpdate   = wire.TypeUpdate
	TypeTyping   = wire.TypeTyping
	TypeRead     = wire.TypeRead
	TypeChannels = wire.TypeChannels
)

// Lifecycle limits.
const (
	MaxEmojiBytes          = wire.MaxEmojiBytes
	MaxEmojiPerMessage     = wire.MaxEmojiPerMessage
	MaxReactionsPerUser    = wire.MaxReactionsPerUser
	MaxReactionsPerMessage = wire.MaxReactionsPerMessage
	TypingInterval         = wire.TypingInterval
	TypingExpiry           = wire.TypingExpiry
	MaxPreviewRunes        = wire.MaxPreviewRunes
)

// seq reads a required seq field: an integer 1 … MaxSeq naming a message.
func (f *fields) seq(name string) int64 {
	if _, ok := f.obj[name]; !ok {
		f.fail(CodeInvalidField, "%s is required", name)
		return 0
	}
	return f.int(name, 0, 1, MaxSeq)
}

// optSeq reads an optional seq field (0 when absent).
func (f *fields) optSeq(name string) int64 {
	if _, ok := f.obj[name]; !ok {
		return 0
	}
	return f.int(name, 0, 1, MaxSeq)
}

// emoji reads a reaction's emoji: too long is too_large, anything that is
// not one emoji or a :shortcode: is invalid_field.
func (f *fields) emoji() string {
	s, ok := f.str("emoji")
	if !ok {
		return ""
	}
	if len(s) > MaxEmojiBytes {
		f.fail(CodeTooLarge, "emoji is %d bytes, the limit is %d", len(s), MaxEmojiBytes)
		return ""
	}
	if !wire.ValidEmoji(s) {
		f.fail(CodeInvalidField, "emoji must be one Unicode emoji (such as 👍 or 👍🏽) or a :shortcode: of a-z 0-9 _ + -")
		return ""
	}
	return s
}

// optClientID reads an optional clientId (react, unreact).
func (f *fields) optClientID() string {
	if _, ok := f.obj["clientId"]; !ok {
		return ""
	}
	return f.clientID()
}

// decodeLifecycle builds the request of a lifecycle action; nil for any
// other action.
func decodeLifecycle(action string, f *fields) Request {
	switch action {
	case wire.ActionEdit:
		return &Edit{Channel: f.channel(), Seq: f.seq("seq"), Text: f.text(), ClientID: f.clientID()}
	case wire.ActionDelete:
		return &Delete{Channel: f.channel(), Seq: f.seq("seq"), ClientID: f.clientID()}
	case wire.ActionReact:
		return &React{Channel: f.channel(), Seq: f.seq("seq"), Emoji: f.emoji(), ClientID: f.optClientID()}
	case wire.ActionUnreact:
		return &Unreact{Channel: f.channel(), Seq: f.seq("seq"), Emoji: f.emoji(), ClientID: f.optClientID()}
	case wire.ActionTyping:
		return &Typing{Channel: f.channel()}
	case wire.ActionRead:
		r := &Read{Channel: f.channel()}
		if _, ok := f.obj["seq"]; !ok {
			f.fail(CodeInvalidField, "seq is required")
		}
		r.Seq = f.int("seq", 0, 0, MaxSeq)
		return r
	case wire.ActionChannels:
		return &Channels{}
	}
	return nil
}
