package protocol

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
// joined it.
type Joined struct {
	Channel  string    `json:"channel"`
	UserID   string    `json:"userId"`
	UserName string    `json:"userName"`
	At       time.Time `json:"at"`
}

// Left tells a channel's members, and the connection that left, that a
// connection left it (by a leave request or by disconnecting).
type Left struct {
	Channel  string    `json:"channel"`
	UserID   string    `json:"userId"`
	UserName string    `json:"userName"`
	At       time.Time `json:"at"`
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
}

// Message delivers one chat message to a channel's members, the sender's
// connections included.
type Message struct {
	Channel string `json:"channel"`
	Entry
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

// Ack confirms to the sender that its send is stored as Seq.
type Ack struct {
	Channel  string `json:"channel"`
	ClientID string `json:"clientId"`
	Seq      int64  `json:"seq"`
}

// HistoryPage answers a history request. When More is true, ask again with
// after = Next.
type HistoryPage struct {
	Channel  string  `json:"channel"`
	Messages []Entry `json:"messages"`
	More     bool    `json:"more"`
	Next     int64   `json:"next"`
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

// Pong answers a ping.
type Pong struct {
	At time.Time `json:"at"`
}

// ErrorEvent reports a rejected request to its sender. RequestID is API
// Gateway's id of the request, to quote in a support request.
type ErrorEvent struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Action    string `json:"action,omitempty"`
	RequestID string `json:"requestId,omitempty"`
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

func withType(typ string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(typ)+12)
	out = append(out, `{"type":`...)
	out = strconv.AppendQuote(out, typ)
	if len(body) > 2 { // body is a non-empty object
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// Encode returns the frame for e.
func Encode(e Event) ([]byte, error) { return json.Marshal(e) }
