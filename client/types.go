package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/wschat/wschat/wire"
)

// State is a phase of the client's connection state machine.
type State int

// The states, in the order a healthy client passes through them. A client
// that loses its connection goes to Reconnecting and back to Connected;
// Closed is final.
const (
	StateConnecting State = iota
	StateConnected
	StateReconnecting
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StateChange is one transition, with the reason for it. Err is set when the
// transition was caused by an error (a dropped connection, a refused token).
type StateChange struct {
	From, To State
	Reason   string
	Err      error
	At       time.Time
	// Took is, for a handover, how long the new connection took from its
	// dial to taking over (rejoined and caught up); zero otherwise.
	Took time.Duration
}

// Message is one chat message as the server stored it, in the state the
// frame carried. Tell who sent it by From and UserID, not by UserName alone:
// a display name is what a user's token says, and two users may share one.
// The lifecycle fields are the message's state (see Subscription.Message for
// the state folded from the whole stream): ReplyTo names a reply's parent;
// Rev orders states of one message (the seq of the last change applied, or
// Seq); a deleted message has no Text.
type Message struct {
	Channel string
	Seq     int64
	// From is FromServer for a message a backend published through the
	// publish API (UserName is then the backend's configured name), "" for
	// a user's message.
	From string
	// UserID identifies the sender: the user's token "sub", or FromServer.
	UserID   string
	UserName string
	Text     string
	ClientID string
	SentAt   time.Time

	ReplyTo   int64
	Rev       int64
	Edited    bool
	EditedAt  time.Time
	Deleted   bool
	Reactions []Reaction
	Replies   int64
}

// FromServer is Message.From of a backend's message.
const FromServer = wire.FromServer

// IsBackend reports whether a backend published m (not a user).
func (m Message) IsBackend() bool { return m.From == FromServer }

// Presence is a joined or left event of a channel.
type Presence struct {
	Channel  string
	UserID   string
	UserName string
	At       time.Time
}

// Discontinuity says that the seqs From..To (inclusive) may have held
// messages that are past the server's history retention: the stream skipped
// them because no one can deliver them any more, and says so.
type Discontinuity struct {
	From, To int64
}

// EventType tells which field of an Event is set.
type EventType int

// Event types of a subscription's stream.
const (
	EventMessage EventType = iota + 1
	EventJoined
	EventLeft
	EventDiscontinuity
	// EventUpdate: a change to a message (edit, delete, reaction), in the
	// stream under its own seq.
	EventUpdate
	// EventTyping: a member is typing (Typing.Until ahead), or stopped:
	// their indicator expired (Until passed). Not in the stream, no seq.
	EventTyping
	// EventRead: a user's last-read seq (yours from another device, or a
	// read receipt of another member); not in the stream.
	EventRead
	// EventModeration: a moderation action (a mute, ban, role change) in
	// the channel, in the stream under its own seq (Moderation). A ban of
	// this client's user is followed by the subscription's end
	// (ErrRemoved).
	EventModeration
)

func (t EventType) String() string {
	switch t {
	case EventMessage:
		return "message"
	case EventJoined:
		return "joined"
	case EventLeft:
		return "left"
	case EventDiscontinuity:
		return "discontinuity"
	case EventUpdate:
		return "update"
	case EventTyping:
		return "typing"
	case EventRead:
		return "read"
	case EventModeration:
		return "moderation"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one item of a subscription's stream. Messages and updates are
// in strictly increasing seq, each once; the other events come between
// them as they happen.
type Event struct {
	Type          EventType
	Message       Message
	Presence      Presence
	Discontinuity Discontinuity
	Update        Update
	Typing        Typist
	Read          ReadReceipt
	Moderation    Moderation

	// personal: the state it carries is the server's answer to this user
	// (history), Mine flags included; parent: a reply's parent's state.
	personal bool
	parent   *Message
}

// Member is one entry of a members page.
type Member struct {
	UserID   string
	UserName string
	JoinedAt time.Time
}

// MembersPage is one page of a channel's members. Next is empty on the last
// page; otherwise pass it to Members to read the next one.
type MembersPage struct {
	Members []Member
	Next    string
}

// Errors a caller can test with errors.Is.
var (
	// ErrClosed: the client was closed (by Close, or after a terminal error).
	ErrClosed = errors.New("wschat client: closed")
	// ErrNotJoined: Send, Members or Leave on a channel this client has not joined.
	ErrNotJoined = errors.New("wschat client: channel not joined")
	// ErrAlreadyJoined: Join of a channel this client has already joined.
	ErrAlreadyJoined = errors.New("wschat client: channel already joined")
	// ErrOutboxFull: Options.OutboxSize unacknowledged sends are pending.
	ErrOutboxFull = errors.New("wschat client: outbox full")
	// ErrTextTooLong: text over MaxTextRunes code points (checked before sending).
	ErrTextTooLong = errors.New("wschat client: text too long")
	// ErrInvalid: a channel name or text the protocol rejects (checked before sending).
	ErrInvalid = errors.New("wschat client: invalid argument")
	// ErrToken: the token provider failed; the client stops.
	ErrToken = errors.New("wschat client: token provider failed")
	// ErrUnauthorized: the server refused the token (401/403 on the upgrade); the client stops.
	ErrUnauthorized = errors.New("wschat client: token refused")
	// ErrSendFailed: a send was retried Options.MaxSendAttempts times without an ack.
	ErrSendFailed = errors.New("wschat client: send not acknowledged")
	// ErrOutcomeUnknown: Send's context ended after the message was sent at
	// least once; it stays in the outbox and is still retried until acked.
	ErrOutcomeUnknown = errors.New("wschat client: send outcome unknown")
)

// ServerError is an error frame the server answered with.
type ServerError struct {
	Code      string
	Message   string
	Action    string
	RequestID string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("wschat server: %s on %s: %s (request %s)", e.Code, e.Action, e.Message, e.RequestID)
}

// retryable reports whether the protocol tells clients to retry the request.
func (e *ServerError) retryable() bool {
	return e.Code == "internal" || e.Code == "rate_limited" || e.Code == "not_member" || e.Code == "unavailable"
}
