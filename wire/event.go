package wire

import (
	"encoding/json"
	"strconv"
	"time"
)

// Server event types: the "type" of every frame the server posts.
const (
	TypeJoined  = "joined"
	TypeLeft    = "left"
	TypeMessage = "message"
	TypeAck     = "ack"
	TypeHistory = "history"
	TypeMembers = "members"
	TypePong    = "pong"
	TypeError   = "error"
	// TypeNotice is a backend's notice to every connection of one user
	// (POST /users/{userId}/messages of the publish API).
	TypeNotice = "notice"
)

// Times in events are RFC 3339 UTC with millisecond precision, the precision
// the store keeps.

// Joined tells a channel's members (the joiner included) that a connection
// joined it. LastSeq is the channel's counter read after the membership was
// stored: every message with a higher seq reaches the joiner live, so a new
// subscription starts exactly there. It is nil only in frames of servers
// older than the field.
type Joined struct {
	Channel  string    `json:"channel"`
	UserID   string    `json:"userId"`
	UserName string    `json:"userName"`
	At       time.Time `json:"at"`
	LastSeq  *int64    `json:"lastSeq,omitempty"`
	// Ref echoes the join request's ref, when it had one.
	Ref string `json:"ref,omitempty"`
	// Members is the channel's member count, set (and the event sent only
	// to the joiner) when the channel is above the presence size.
	Members int64 `json:"members,omitempty"`
	// LastRead is the joining user's last-read seq of the channel (read
	// action), shared by all of that user's connections.
	LastRead *int64 `json:"lastRead,omitempty"`
}

// Left tells a channel's members, and the connection that left, that a
// connection left it (by a leave request or by disconnecting).
type Left struct {
	Channel  string    `json:"channel"`
	UserID   string    `json:"userId"`
	UserName string    `json:"userName"`
	At       time.Time `json:"at"`
	// Members: as in Joined.
	Members int64 `json:"members,omitempty"`
}

// Entry is one stored chat message.
type Entry struct {
	Seq      int64  `json:"seq"`
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	Text     string `json:"text"`
	ClientID string `json:"clientId"`
	// From is "server" when a backend published the message through the
	// HTTP API (UserName is then its configured display name); absent for
	// a user's message.
	From   string    `json:"from,omitempty"`
	SentAt time.Time `json:"sentAt"`

	// The message's current state (lifecycle.go; all absent on a message
	// never changed). ReplyTo names the parent of a reply. Rev is the seq
	// of the last change applied to the message (absent: its own seq): of
	// two states of one message the one with the higher rev is newer.
	// EditedAt is set once edited; a deleted message has Deleted and no
	// text. Reactions are in the order they were first added; Replies
	// counts the thread's replies.
	ReplyTo   int64      `json:"replyTo,omitempty"`
	Rev       int64      `json:"rev,omitempty"`
	EditedAt  *time.Time `json:"editedAt,omitempty"`
	Deleted   bool       `json:"deleted,omitempty"`
	Reactions []Reaction `json:"reactions,omitempty"`
	Replies   int64      `json:"replies,omitempty"`
}

// Message delivers one chat message to a channel's members, the sender's
// connections included.
type Message struct {
	Channel string `json:"channel"`
	Entry
	// Parent is, for a reply, its parent's state after the reply was
	// counted (its Replies and Rev).
	Parent *Entry `json:"parent,omitempty"`
}

// Notice is a backend's message to every live connection of one user (all
// tabs and devices). It is not stored: a user without a live connection
// does not get it.
type Notice struct {
	From     string    `json:"from"` // always "server"
	UserName string    `json:"userName"`
	Text     string    `json:"text"`
	ID       string    `json:"id,omitempty"`
	At       time.Time `json:"at"`
}

// Ack confirms to the sender that its send is stored as Seq. Action is
// absent for a send; for an edit, delete, react or unreact it names the
// action, and Seq is the update's seq (0 when nothing changed: a reaction
// that was already there, or already gone).
//
// The ack of a send that asked for no echo (Send.Echo false) also carries
// the rest of the message as stored: SentAt, UserID and UserName (the
// sender's name as the server shows it to everyone), so the client makes
// the message it did not receive. Other acks leave them out. Text is set
// only in such an ack, and only when the stored text is not the text sent
// (a before-send hook replaced it): the message's text is Text when set,
// the sent text otherwise.
type Ack struct {
	Action   string     `json:"action,omitempty"`
	Channel  string     `json:"channel"`
	ClientID string     `json:"clientId"`
	Seq      int64      `json:"seq"`
	SentAt   *time.Time `json:"sentAt,omitempty"`
	UserID   string     `json:"userId,omitempty"`
	UserName string     `json:"userName,omitempty"`
	Text     string     `json:"text,omitempty"`
}

// HistoryPage answers a history request. When More is true, ask again with
// after = Next. After echoes the request. Every seq in (After, Through] is
// settled: its message is in Messages or an earlier page, or the seq will
// never hold one. Oldest is the lowest seq retained (the counter + 1 when
// none is, 0 for a channel that never had a message); Truncated says some
// seq above After may have held a message now past retention.
//
// Lifecycle additions: Updates are the changes stored in the range, in seq
// order (they are not in Messages, so a client that ignores them sees
// their seqs as settled and skips them); States holds the current state of
// every message those updates (and the replies in Messages) target that
// is not in Messages itself. Every message is served in its current state.
// A thread request (History.Thread) echoes Thread and answers its replies
// in Messages and the parent in States, without the settling fields.
type HistoryPage struct {
	Channel   string        `json:"channel"`
	Messages  []Entry       `json:"messages"`
	More      bool          `json:"more"`
	Next      int64         `json:"next"`
	After     int64         `json:"after"`
	Oldest    int64         `json:"oldest"`
	Truncated bool          `json:"truncated"`
	Through   int64         `json:"through"`
	Thread    int64         `json:"thread,omitempty"`
	Updates   []UpdateEntry `json:"updates,omitempty"`
	States    []Entry       `json:"states,omitempty"`
	// Moderation holds the moderation actions stored in the range
	// (moderation.go), in seq order; like Updates, their seqs are
	// settled whether or not a client reads them.
	Moderation []ModerationEntry `json:"moderation,omitempty"`
}

// Member is one connection in a channel. A user connected twice appears twice.
type Member struct {
	UserID   string    `json:"userId"`
	UserName string    `json:"userName"`
	JoinedAt time.Time `json:"joinedAt"`
}

// MembersPage answers a members request. A non-empty Next is the cursor of
// the next page.
type MembersPage struct {
	Channel string   `json:"channel"`
	Members []Member `json:"members"`
	Next    string   `json:"next,omitempty"`
}

// Pong answers a ping. API Gateway answers it itself (the ping route is a
// MOCK integration, docs/client.md "Liveness"): its pong names the
// connection and carries no time, since a mapping template cannot write one
// in RFC 3339. A function that answers a ping sets both.
type Pong struct {
	At           time.Time `json:"at,omitzero"`
	ConnectionID string    `json:"connectionId,omitempty"`
}

// ErrorEvent reports a rejected request to its sender. RequestID is API
// Gateway's id of the request, to quote in a support request. Channel and
// ClientID echo the request's, when it was decoded and had them, so a
// client can match the error to its request.
type ErrorEvent struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Action    string `json:"action,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	Channel   string `json:"channel,omitempty"`
	ClientID  string `json:"clientId,omitempty"`
}

// Event is a frame the server posts to clients.
type Event interface{ EventType() string }

func (Joined) EventType() string      { return TypeJoined }
func (Left) EventType() string        { return TypeLeft }
func (Message) EventType() string     { return TypeMessage }
func (Ack) EventType() string         { return TypeAck }
func (HistoryPage) EventType() string { return TypeHistory }
func (MembersPage) EventType() string { return TypeMembers }
func (Pong) EventType() string        { return TypePong }
func (ErrorEvent) EventType() string  { return TypeError }
func (Notice) EventType() string      { return TypeNotice }

// The MarshalJSON methods add the "type" member; a local alias type drops the
// method so the struct's own fields are encoded by encoding/json.

func (e Joined) MarshalJSON() ([]byte, error) {
	type plain Joined
	return withType(e.EventType(), plain(e))
}

func (e Left) MarshalJSON() ([]byte, error) {
	type plain Left
	return withType(e.EventType(), plain(e))
}

func (e Message) MarshalJSON() ([]byte, error) {
	type plain Message
	return withType(e.EventType(), plain(e))
}

func (e Ack) MarshalJSON() ([]byte, error) {
	type plain Ack
	return withType(e.EventType(), plain(e))
}

func (e HistoryPage) MarshalJSON() ([]byte, error) {
	type plain HistoryPage
	if e.Messages == nil {
		e.Messages = []Entry{}
	}
	return withType(e.EventType(), plain(e))
}

func (e MembersPage) MarshalJSON() ([]byte, error) {
	type plain MembersPage
	if e.Members == nil {
		e.Members = []Member{}
	}
	return withType(e.EventType(), plain(e))
}

func (e Pong) MarshalJSON() ([]byte, error) {
	type plain Pong
	return withType(e.EventType(), plain(e))
}

func (e Notice) MarshalJSON() ([]byte, error) {
	type plain Notice
	return withType(TypeNotice, plain(e))
}

func (e ErrorEvent) MarshalJSON() ([]byte, error) {
	type plain ErrorEvent
	return withType(e.EventType(), plain(e))
}

func withType(typ string, v any) ([]byte, error) { return withKey("type", typ, v) }

// withKey encodes v, a struct, with "key": value as its first member.
func withKey(key, value string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(key)+len(value)+8)
	out = append(out, '{')
	out = strconv.AppendQuote(out, key)
	out = append(out, ':')
	out = strconv.AppendQuote(out, value)
	if len(body) > 2 { // body is a non-empty object
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// Encode returns the frame for e.
func Encode(e Event) ([]byte, error) { return json.Marshal(e) }
