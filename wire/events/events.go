// Package events is the integration contract of wschat: the EventBridge
// events a stack emits for every stored change (messages, their edits,
// deletions and reactions, memberships, channels, connections, notices), the before-send hook's request and
// answer, and the webhook signature scheme. A team's consumer (a Lambda
// behind an EventBridge rule, an SQS poller, a webhook receiver, a hook)
// decodes them with this package alone: it lives in the dependency-free
// wire module, so importing it brings no server code, no AWS SDK and no
// Lambda runtime.
//
// Every event is an EventBridge event whose source is the stack's event
// source ("wschat" unless configured) and whose detail-type names the change
// and the version of its detail, e.g. "message.created.v1". A detail only
// ever gains optional fields within a version; a change that would break a
// consumer gets a new detail-type (".v2"), emitted beside the old one while
// consumers move. Each detail's JSON Schema is in schema/ (Schema returns
// it). docs/events.md is the same contract for readers.
//
// Delivery is at least once: an event may arrive twice, and events of one
// channel may arrive out of order. EventID is the same on every delivery of
// one change; messages carry their channel's seq.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DefaultSource is the source of every event unless the stack configures
// another (two chat apps sharing one bus tell their events apart by it).
const DefaultSource = "wschat"

// Detail types: "<subject>.<change>.v<version>".
const (
	TypeMessageCreated   = "message.created.v1"
	TypeMemberJoined     = "member.joined.v1"
	TypeMemberLeft       = "member.left.v1"
	TypeChannelOccupied  = "channel.occupied.v1"
	TypeChannelVacated   = "channel.vacated.v1"
	TypeConnectionOpened = "connection.opened.v1"
	TypeConnectionClosed = "connection.closed.v1"
	TypeUserNotified     = "user.notified.v1"
	TypeMessageEdited    = "message.edited.v1"
	TypeMessageDeleted   = "message.deleted.v1"
	TypeReactionAdded    = "reaction.added.v1"
	TypeReactionRemoved  = "reaction.removed.v1"
	TypeModeration       = "moderation.v1"
)

// Types lists every detail type this version of the contract defines.
var Types = []string{
	TypeMessageCreated, TypeMemberJoined, TypeMemberLeft, TypeChannelOccupied,
	TypeChannelVacated, TypeConnectionOpened, TypeConnectionClosed, TypeUserNotified,
	TypeMessageEdited, TypeMessageDeleted, TypeReactionAdded, TypeReactionRemoved,
	TypeModeration,
}

// Detail is the detail of one event; DetailType names its detail-type.
type Detail interface{ DetailType() string }

// User is who a change is about: the user id from the token (the
// authorizer's), and the display name at the time. A backend's message is
// from user "server" with its configured display name.
type User struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
}

// MessageCreated: a message was stored in a channel's history under Seq (a
// user's send or a backend's publish). Text is present only where the
// stack's environment allows text in events; TextLength (in Unicode code
// points) always is. Fetch it (and its neighbours) with a history request
// after Seq-1.
type MessageCreated struct {
	EventID  string `json:"eventId"`
	Channel  string `json:"channel"`
	Seq      int64  `json:"seq"`
	ClientID string `json:"clientId"`
	User
	// From is "server" for a backend's message, absent for a user's.
	From       string    `json:"from,omitempty"`
	Text       *string   `json:"text,omitempty"`
	TextLength int       `json:"textLength"`
	SentAt     time.Time `json:"sentAt"`
	// ReplyTo is the seq of the message this one replies to (in its
	// thread); absent for a message that is not a reply. The parent's
	// reply count went up with it.
	ReplyTo int64 `json:"replyTo,omitempty"`
}

// MessageEdited: message Seq's author changed its text. ChangeSeq is the
// edit's own seq in the channel's stream (what clients replay), and the
// message's revision after it: of two events about one message, the one
// with the greater ChangeSeq is the later state. Text is the new text
// where the environment allows text in events.
type MessageEdited struct {
	EventID   string `json:"eventId"`
	Channel   string `json:"channel"`
	Seq       int64  `json:"seq"`
	ChangeSeq int64  `json:"changeSeq"`
	User
	Text       *string   `json:"text,omitempty"`
	TextLength int       `json:"textLength"`
	EditedAt   time.Time `json:"editedAt"`
}

// MessageDeleted: message Seq's author (or an owner or moderator of the
// channel: User is who) deleted it; its text is erased
// from the store (a consumer that copied it should erase its copy too).
type MessageDeleted struct {
	EventID   string `json:"eventId"`
	Channel   string `json:"channel"`
	Seq       int64  `json:"seq"`
	ChangeSeq int64  `json:"changeSeq"`
	User
	DeletedAt time.Time `json:"deletedAt"`
}

// ReactionAdded: a user reacted to message Seq with Emoji (one of each
// emoji per user and message: a repeated reaction emits nothing). Count is
// how many users have that emoji on the message after the change.
type ReactionAdded struct {
	EventID   string `json:"eventId"`
	Channel   string `json:"channel"`
	Seq       int64  `json:"seq"`
	ChangeSeq int64  `json:"changeSeq"`
	User
	Emoji string    `json:"emoji"`
	Count int       `json:"count"`
	At    time.Time `json:"at"`
}

// ReactionRemoved: a user took their Emoji off message Seq. Count is how
// many users still have it.
type ReactionRemoved struct {
	EventID   string `json:"eventId"`
	Channel   string `json:"channel"`
	Seq       int64  `json:"seq"`
	ChangeSeq int64  `json:"changeSeq"`
	User
	Emoji string    `json:"emoji"`
	Count int       `json:"count"`
	At    time.Time `json:"at"`
}

// Moderation: an owner, a moderator or a backend (From "server") acted on
// Subject in a channel: Op is "mute" (until Until), "unmute", "ban",
// "unban" or "role" (Role is the role set). Seq is the action's own seq in
// the channel's stream, where clients see it too. A moderator's delete of
// someone's message is a message.deleted event, not this one.
type Moderation struct {
	EventID string `json:"eventId"`
	Channel string `json:"channel"`
	Seq     int64  `json:"seq"`
	Op      string `json:"op"`
	// Subject is the user acted on.
	Subject User `json:"subject"`
	// User is who acted.
	User
	// From is "server" for a backend's action, absent for a user's.
	From   string     `json:"from,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
	Role   string     `json:"role,omitempty"`
	Reason string     `json:"reason,omitempty"`
	At     time.Time  `json:"at"`
}

// MemberJoined: a connection became a member of a channel (a repeated join
// emits nothing). Presence is per connection: a user with two tabs joins
// twice.
type MemberJoined struct {
	EventID      string `json:"eventId"`
	Channel      string `json:"channel"`
	ConnectionID string `json:"connectionId"`
	User
	JoinedAt time.Time `json:"joinedAt"`
}

// MemberLeft: a membership ended (leave, disconnect, or the connection was
// found gone). Expired is true when the database removed it because it
// outlived its connection (DynamoDB's TTL), which can be long after the
// connection ended.
type MemberLeft struct {
	EventID      string `json:"eventId"`
	Channel      string `json:"channel"`
	ConnectionID string `json:"connectionId"`
	User
	JoinedAt time.Time `json:"joinedAt"`
	At       time.Time `json:"at"`
	Expired  bool      `json:"expired,omitempty"`
}

// ChannelOccupied: a channel's member count went from 0 to 1.
type ChannelOccupied struct {
	EventID string    `json:"eventId"`
	Channel string    `json:"channel"`
	At      time.Time `json:"at"`
}

// ChannelVacated: a channel's member count went from 1 to 0.
type ChannelVacated struct {
	EventID string    `json:"eventId"`
	Channel string    `json:"channel"`
	At      time.Time `json:"at"`
}

// ConnectionOpened: a WebSocket connection was accepted and registered.
type ConnectionOpened struct {
	EventID      string `json:"eventId"`
	ConnectionID string `json:"connectionId"`
	User
	ConnectedAt time.Time `json:"connectedAt"`
}

// ConnectionClosed: a connection's registration ended ($disconnect, a
// backend's disconnect, or it was found gone); Expired as in MemberLeft.
type ConnectionClosed struct {
	EventID      string `json:"eventId"`
	ConnectionID string `json:"connectionId"`
	User
	ConnectedAt time.Time `json:"connectedAt"`
	At          time.Time `json:"at"`
	Expired     bool      `json:"expired,omitempty"`
}

// UserNotified: a backend's notice (publish API, POST /users/{userId}/
// messages) reached Delivered of the user's Connections live connections.
// ID is the backend's id of the notice, when it gave one; Text as in
// MessageCreated.
type UserNotified struct {
	EventID     string    `json:"eventId"`
	UserID      string    `json:"userId"`
	ID          string    `json:"id,omitempty"`
	FromName    string    `json:"fromName"`
	Connections int       `json:"connections"`
	Delivered   int       `json:"delivered"`
	Text        *string   `json:"text,omitempty"`
	TextLength  int       `json:"textLength"`
	At          time.Time `json:"at"`
}

func (MessageCreated) DetailType() string   { return TypeMessageCreated }
func (MemberJoined) DetailType() string     { return TypeMemberJoined }
func (MemberLeft) DetailType() string       { return TypeMemberLeft }
func (ChannelOccupied) DetailType() string  { return TypeChannelOccupied }
func (ChannelVacated) DetailType() string   { return TypeChannelVacated }
func (ConnectionOpened) DetailType() string { return TypeConnectionOpened }
func (ConnectionClosed) DetailType() string { return TypeConnectionClosed }
func (UserNotified) DetailType() string     { return TypeUserNotified }
func (MessageEdited) DetailType() string    { return TypeMessageEdited }
func (MessageDeleted) DetailType() string   { return TypeMessageDeleted }
func (ReactionAdded) DetailType() string    { return TypeReactionAdded }
func (ReactionRemoved) DetailType() string  { return TypeReactionRemoved }
func (Moderation) DetailType() string       { return TypeModeration }

// Event is an EventBridge event as a rule's target receives it (a Lambda's
// event, an SQS message body, a webhook request body).
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ErrUnknownType is returned by Decode for a detail-type this version of
// the package does not know (a newer stack's event): skip it.
var ErrUnknownType = errors.New("unknown detail-type")

// New returns an empty detail of detailType, to decode into.
func New(detailType string) (Detail, error) {
	switch detailType {
	case TypeMessageCreated:
		return &MessageCreated{}, nil
	case TypeMemberJoined:
		return &MemberJoined{}, nil
	case TypeMemberLeft:
		return &MemberLeft{}, nil
	case TypeChannelOccupied:
		return &ChannelOccupied{}, nil
	case TypeChannelVacated:
		return &ChannelVacated{}, nil
	case TypeConnectionOpened:
		return &ConnectionOpened{}, nil
	case TypeConnectionClosed:
		return &ConnectionClosed{}, nil
	case TypeUserNotified:
		return &UserNotified{}, nil
	case TypeMessageEdited:
		return &MessageEdited{}, nil
	case TypeMessageDeleted:
		return &MessageDeleted{}, nil
	case TypeReactionAdded:
		return &ReactionAdded{}, nil
	case TypeReactionRemoved:
		return &ReactionRemoved{}, nil
	case TypeModeration:
		return &Moderation{}, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownType, detailType)
}

// Decode reads an EventBridge event and its detail; the detail is a pointer
// to one of this package's detail types (switch on it). A detail-type it
// does not know is ErrUnknownType, with the envelope decoded.
func Decode(data []byte) (Event, Detail, error) {
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return Event{}, nil, fmt.Errorf("decode event: %w", err)
	}
	d, err := New(ev.DetailType)
	if err != nil {
		return ev, nil, err
	}
	if err := json.Unmarshal(ev.Detail, d); err != nil {
		return ev, nil, fmt.Errorf("decode %s detail: %w", ev.DetailType, err)
	}
	return ev, d, nil
}
