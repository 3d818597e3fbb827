package wire

import (
	"strings"
	"time"
	"unicode/utf8"
)

// The message lifecycle (docs/protocol.md, "The message lifecycle"): edits,
// deletes and reactions are changes in the channel's stream, each under
// its own seq like a message; replies are messages that name a parent;
// typing and read state are signals outside the stream; channels lists a
// user's channels with unread counts.

// Lifecycle actions.
const (
	ActionEdit     = "edit"
	ActionDelete   = "delete"
	ActionReact    = "react"
	ActionUnreact  = "unreact"
	ActionTyping   = "typing"
	ActionRead     = "read"
	ActionChannels = "channels"
)

// Lifecycle event types.
const (
	// TypeUpdate is a change to a stored message (an edit, a delete, a
	// reaction added or removed), under its own seq in the channel's stream.
	TypeUpdate = "update"
	// TypeTyping says a member is typing; not stored, no seq.
	TypeTyping = "typing"
	// TypeRead carries a user's last-read seq of a channel; not stored in
	// the stream, no seq of its own.
	TypeRead = "read"
	// TypeChannels answers the channels action.
	TypeChannels = "channels"
)

// Limits of the lifecycle, part of the contract with clients.
const (
	// MaxEmojiBytes bounds one reaction's emoji (UTF-8 bytes).
	MaxEmojiBytes = 32
	// MaxEmojiPerMessage bounds the distinct emoji on one message.
	MaxEmojiPerMessage = 20
	// MaxReactionsPerUser bounds the emoji one user has on one message.
	MaxReactionsPerUser = 10
	// MaxReactionsPerMessage bounds all reactions on one message (they are
	// kept on the message's item, which DynamoDB caps at 400 KB).
	MaxReactionsPerMessage = 4000
	// TypingInterval is how often the server passes on one user's typing
	// in one channel; more frequent ones are refused (rate_limited).
	TypingInterval = 2 * time.Second
	// TypingExpiry is how long receivers show a typing indicator after
	// the last typing event of that user.
	TypingExpiry = 6 * time.Second
	// TypingEvery is how often the SDKs' typing helpers send while the
	// user keeps typing: above TypingInterval, below TypingExpiry.
	TypingEvery = 3 * time.Second
	// MaxPreviewRunes bounds the text of a channel's last-message preview.
	MaxPreviewRunes = 100
)

// Update actions: the "action" of an update event.
const (
	UpdateEdit    = ActionEdit
	UpdateDelete  = ActionDelete
	UpdateReact   = ActionReact
	UpdateUnreact = ActionUnreact
)

// Edit replaces the text of the caller's own message Seq of Channel.
// ClientID makes it idempotent as for a send.
type Edit struct {
	Channel  string `json:"channel"`
	Seq      int64  `json:"seq"`
	Text     string `json:"text"`
	ClientID string `json:"clientId"`
}

// Delete erases the caller's own message Seq of Channel; the message stays
// as a tombstone (no text) so counts and threads stay coherent.
type Delete struct {
	Channel  string `json:"channel"`
	Seq      int64  `json:"seq"`
	ClientID string `json:"clientId"`
}

// React adds Emoji from the caller to message Seq of Channel (one of each
// emoji per user and message: reacting twice changes nothing). ClientID is
// optional: the SDKs send one so a retry is recognised as such.
type React struct {
	Channel  string `json:"channel"`
	Seq      int64  `json:"seq"`
	Emoji    string `json:"emoji"`
	ClientID string `json:"clientId,omitempty"`
}

// Unreact removes the caller's Emoji from message Seq of Channel.
type Unreact struct {
	Channel  string `json:"channel"`
	Seq      int64  `json:"seq"`
	Emoji    string `json:"emoji"`
	ClientID string `json:"clientId,omitempty"`
}

// Typing says the caller is typing in Channel.
type Typing struct {
	Channel string `json:"channel"`
}

// Read records that the caller has read Channel up to Seq (monotonic: a
// lower seq changes nothing).
type Read struct {
	Channel string `json:"channel"`
	Seq     int64  `json:"seq"`
}

// Channels asks for the caller's channels with their unread counts.
type Channels struct{}

func (*Edit) Action() string     { return ActionEdit }
func (*Delete) Action() string   { return ActionDelete }
func (*React) Action() string    { return ActionReact }
func (*Unreact) Action() string  { return ActionUnreact }
func (*Typing) Action() string   { return ActionTyping }
func (*Read) Action() string     { return ActionRead }
func (*Channels) Action() string { return ActionChannels }

func (r *Edit) MarshalJSON() ([]byte, error) {
	type plain Edit
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Delete) MarshalJSON() ([]byte, error) {
	type plain Delete
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *React) MarshalJSON() ([]byte, error) {
	type plain React
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Unreact) MarshalJSON() ([]byte, error) {
	type plain Unreact
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Typing) MarshalJSON() ([]byte, error) {
	type plain Typing
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Read) MarshalJSON() ([]byte, error) {
	type plain Read
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Channels) MarshalJSON() ([]byte, error) { return []byte(`{"action":"channels"}`), nil }

// Reaction is one emoji on a message: how many users reacted with it, and
// (in answers to one user: history, channels) whether that user did.
type Reaction struct {
	Emoji string `json:"emoji"`
	Count int    `json:"count"`
	Mine  bool   `json:"mine,omitempty"`
}

// UpdateEntry is one change in a channel's stream: Action (edit, delete,
// react, unreact) by UserID to message Target, stored as Seq. It carries no
// text: the target's current state comes with it (Update.Message live,
// HistoryPage.States in history).
type UpdateEntry struct {
	Seq      int64     `json:"seq"`
	Action   string    `json:"action"`
	Target   int64     `json:"target"`
	UserID   string    `json:"userId"`
	UserName string    `json:"userName"`
	Emoji    string    `json:"emoji,omitempty"`
	ClientID string    `json:"clientId,omitempty"`
	At       time.Time `json:"at"`
}

// Update delivers one change to a channel's members: the change and the
// target message's state after it (Message.Rev orders states: a client
// keeps, per message, the state with the highest rev).
type Update struct {
	Channel string `json:"channel"`
	UpdateEntry
	Message Entry `json:"message"`
}

// TypingEvent says UserID is typing in Channel; receivers show it for
// ExpiresIn milliseconds unless another one comes.
type TypingEvent struct {
	Channel   string    `json:"channel"`
	UserID    string    `json:"userId"`
	UserName  string    `json:"userName"`
	At        time.Time `json:"at"`
	ExpiresIn int64     `json:"expiresIn"`
}

// ReadEvent says UserID has read Channel up to Seq: to that user's
// connections (every device), and as a read receipt to the members of
// channels within the presence size.
type ReadEvent struct {
	Channel  string    `json:"channel"`
	UserID   string    `json:"userId"`
	UserName string    `json:"userName"`
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
}

// ChannelInfo is one entry of a user's channel list. Unread counts the
// messages above LastRead that are neither the user's own nor deleted;
// when UnreadMore is true there are more than Unread (show "Unread+").
// Last is the channel's last message, its text cut to MaxPreviewRunes.
// Private is true for a private channel or direct message whose member
// list names the user (listed whether joined or not); a direct message
// carries the other user's id and name (PeerID, PeerName: the name as the
// other user last opened it, its id until then).
type ChannelInfo struct {
	Channel    string `json:"channel"`
	LastSeq    int64  `json:"lastSeq"`
	LastRead   int64  `json:"lastRead"`
	Unread     int    `json:"unread"`
	UnreadMore bool   `json:"unreadMore,omitempty"`
	Last       *Entry `json:"last,omitempty"`
	Private    bool   `json:"private,omitempty"`
	PeerID     string `json:"peerId,omitempty"`
	PeerName   string `json:"peerName,omitempty"`
}

// ChannelList answers channels.
type ChannelList struct {
	Channels []ChannelInfo `json:"channels"`
}

func (Update) EventType() string      { return TypeUpdate }
func (TypingEvent) EventType() string { return TypeTyping }
func (ReadEvent) EventType() string   { return TypeRead }
func (ChannelList) EventType() string { return TypeChannels }

func (e Update) MarshalJSON() ([]byte, error) {
	type plain Update
	return withType(e.EventType(), plain(e))
}

func (e TypingEvent) MarshalJSON() ([]byte, error) {
	type plain TypingEvent
	return withType(e.EventType(), plain(e))
}

func (e ReadEvent) MarshalJSON() ([]byte, error) {
	type plain ReadEvent
	return withType(e.EventType(), plain(e))
}

func (e ChannelList) MarshalJSON() ([]byte, error) {
	type plain ChannelList
	if e.Channels == nil {
		e.Channels = []ChannelInfo{}
	}
	return withType(e.EventType(), plain(e))
}

// ValidEmoji reports whether e is a reaction the protocol accepts: a
// shortcode (":name:", name of 1–30 of a-z 0-9 _ + -) or one Unicode
// emoji: a pictographic code point (or a pair of regional indicators, or a
// keycap) with the modifiers emoji sequences use (variation selector 16,
// skin tones, zero-width joiners to further pictographs, tags), at most
// MaxEmojiBytes bytes. Text, white space and lone modifiers are not emoji.
func ValidEmoji(e string) bool {
	if len(e) == 0 || len(e) > MaxEmojiBytes || !utf8.ValidString(e) {
		return false
	}
	if strings.HasPrefix(e, ":") {
		return validShortcode(e)
	}
	return validEmojiSequence([]rune(e))
}

func validShortcode(e string) bool {
	name, ok := strings.CutSuffix(e[1:], ":")
	if !ok || len(name) == 0 || len(name) > 30 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

// validEmojiSequence checks the shape of an emoji sequence: a base, its
// modifiers, then optionally ZWJ + another base, and so on; or a flag (two
// regional indicators); or a keycap ([0-9#*] FE0F? 20E3).
func validEmojiSequence(rs []rune) bool {
	if isRegional(rs[0]) {
		return len(rs) == 2 && isRegional(rs[1])
	}
	if isKeycapBase(rs[0]) {
		rest := rs[1:]
		if len(rest) > 0 && rest[0] == 0xFE0F {
			rest = rest[1:]
		}
		return len(rest) == 1 && rest[0] == 0x20E3
	}
	needBase := true
	for _, r := range rs {
		switch {
		case needBase:
			if !isPictographic(r) {
				return false
			}
			needBase = false
		case r == 0x200D: // zero-width joiner: another base follows
			needBase = true
		case r == 0xFE0F || r >= 0x1F3FB && r <= 0x1F3FF || r >= 0xE0020 && r <= 0xE007F:
			// variation selector 16, skin tones, tags (subdivision flags)
		default:
			return false
		}
	}
	return !needBase
}

func isRegional(r rune) bool   { return r >= 0x1F1E6 && r <= 0x1F1FF }
func isKeycapBase(r rune) bool { return r >= '0' && r <= '9' || r == '#' || r == '*' }

// pictographic lists the ranges of Unicode's Extended_Pictographic property
// that hold emoji, coarsely: the blocks emoji are drawn from. Precise
// enough to refuse text, digits and symbols that are not emoji.
var pictographic = [][2]rune{
	{0x00A9, 0x00A9}, {0x00AE, 0x00AE}, {0x203C, 0x203C}, {0x2049, 0x2049},
	{0x2122, 0x2122}, {0x2139, 0x2139}, {0x2194, 0x2199}, {0x21A9, 0x21AA},
	{0x231A, 0x231B}, {0x2328, 0x2328}, {0x23CF, 0x23CF}, {0x23E9, 0x23F3},
	{0x23F8, 0x23FA}, {0x24C2, 0x24C2}, {0x25AA, 0x25AB}, {0x25B6, 0x25B6},
	{0x25C0, 0x25C0}, {0x25FB, 0x25FE}, {0x2600, 0x27BF}, {0x2934, 0x2935},
	{0x2B05, 0x2B07}, {0x2B1B, 0x2B1C}, {0x2B50, 0x2B50}, {0x2B55, 0x2B55},
	{0x3030, 0x3030}, {0x303D, 0x303D}, {0x3297, 0x3297}, {0x3299, 0x3299},
	{0x1F000, 0x1F1E5}, {0x1F200, 0x1F3FA}, {0x1F400, 0x1FAFF},
}

func isPictographic(r rune) bool {
	for _, rg := range pictographic {
		if r >= rg[0] && r <= rg[1] {
			return true
		}
	}
	return false
}
