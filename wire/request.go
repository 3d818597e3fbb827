package wire

import "encoding/json"

// Actions: the "action" of every client request. Each is deployed as its own
// route of the WebSocket API (route selection expression
// $request.body.action).
const (
	ActionJoin    = "join"
	ActionLeave   = "leave"
	ActionSend    = "send"
	ActionHistory = "history"
	ActionMembers = "members"
	ActionPing    = "ping"
)

// Actions lists the protocol actions, the lifecycle's (lifecycle.go) and
// the authorization's (authz.go) and moderation's (moderation.go) included.
var Actions = []string{ActionJoin, ActionLeave, ActionSend, ActionHistory, ActionMembers, ActionPing,
	ActionEdit, ActionDelete, ActionReact, ActionUnreact, ActionTyping, ActionRead, ActionChannels,
	ActionReauth, ActionDirect, ActionModerate}

// Request is one client request: *Join, *Leave, *Send, *History, *Members,
// *Ping, one of the lifecycle's (*Edit, *Delete, *React, *Unreact,
// *Typing, *Read, *Channels), the authorization's (*Reauth,
// *OpenDirect) or moderation's (*Moderate). Encoding one with encoding/json adds its "action"; the server
// decodes them strictly (only the fields the action defines).
type Request interface {
	// Action is the request's "action", one of Actions.
	Action() string
}

// Join asks to become a member of Channel. Ref, optional, is echoed in the
// resulting joined event so that the joiner can tell its own announcement
// from another member's concurrent join.
type Join struct {
	Channel string `json:"channel"`
	Ref     string `json:"ref,omitempty"`
}

// Leave asks to stop being a member of Channel.
type Leave struct {
	Channel string `json:"channel"`
}

// Send posts Text to Channel. ClientID makes the send idempotent: a retry with
// the same ClientID (by the same user, to the same channel) is stored once and
// acknowledged with the same seq. ReplyTo, when set, makes the message a
// reply in the thread of that message (which must be a message that is not
// itself a reply, and not deleted).
//
// Echo false asks for one frame instead of two: the sender's connection
// then gets only the Ack, which carries what the message frame would have
// (seq, sentAt, userId, userName), and the client makes the message from
// it and its own text. Absent (as from every client before it existed) or
// true, the sender's connection gets the message like every member, then
// the ack. The user's other connections get the message either way. A
// reply is always echoed: its frame carries the parent's new reply count.
type Send struct {
	Channel  string `json:"channel"`
	Text     string `json:"text"`
	ClientID string `json:"clientId"`
	ReplyTo  int64  `json:"replyTo,omitempty"`
	Echo     *bool  `json:"echo,omitempty"`
}

// History asks for the messages of Channel with seq > After, at most Limit
// (DefaultHistoryLimit when 0). With Thread set it asks for the replies to
// that message instead (a view, not the stream: no settling fields).
type History struct {
	Channel string `json:"channel"`
	After   int64  `json:"after,omitempty"`
	Limit   int    `json:"limit,omitempty"`
	Thread  int64  `json:"thread,omitempty"`
}

// Members asks for the members of Channel, one page at a time; Cursor is the
// "next" of the previous page ("" for the first).
type Members struct {
	Channel string `json:"channel"`
	Cursor  string `json:"cursor,omitempty"`
}

// Ping asks for a pong; it keeps an idle connection open.
type Ping struct{}

func (*Join) Action() string    { return ActionJoin }
func (*Leave) Action() string   { return ActionLeave }
func (*Send) Action() string    { return ActionSend }
func (*History) Action() string { return ActionHistory }
func (*Members) Action() string { return ActionMembers }
func (*Ping) Action() string    { return ActionPing }

// The MarshalJSON methods add the "action" member, as withType adds an
// event's "type".

func (r *Join) MarshalJSON() ([]byte, error) {
	type plain Join
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Leave) MarshalJSON() ([]byte, error) {
	type plain Leave
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Send) MarshalJSON() ([]byte, error) {
	type plain Send
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *History) MarshalJSON() ([]byte, error) {
	type plain History
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Members) MarshalJSON() ([]byte, error) {
	type plain Members
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *Ping) MarshalJSON() ([]byte, error) { return []byte(`{"action":"ping"}`), nil }

// EncodeRequest returns the frame of r.
func EncodeRequest(r Request) ([]byte, error) { return json.Marshal(r) }

// Echo returns the channel, clientId and ref of a request (empty when the
// action has none): what an answer echoes, so a client can match it.
func Echo(r Request) (channel, clientID, ref string) {
	switch r := r.(type) {
	case *Join:
		return r.Channel, "", r.Ref
	case *Leave:
		return r.Channel, "", ""
	case *Send:
		return r.Channel, r.ClientID, ""
	case *History:
		return r.Channel, "", ""
	case *Members:
		return r.Channel, "", ""
	case *Edit:
		return r.Channel, r.ClientID, ""
	case *Delete:
		return r.Channel, r.ClientID, ""
	case *React:
		return r.Channel, r.ClientID, ""
	case *Unreact:
		return r.Channel, r.ClientID, ""
	case *Typing:
		return r.Channel, "", ""
	case *Read:
		return r.Channel, "", ""
	case *Moderate:
		return r.Channel, r.ClientID, ""
	}
	return "", "", ""
}
