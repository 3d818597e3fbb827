package wire

import (
	"time"
	"unicode"
	"unicode/utf8"
)

// Roles and moderation (docs/auth.md, "Roles and moderation"): per channel
// a user is an owner, a moderator or a member; owners and moderators (and
// backends, through the publish API) mute, ban and set roles, and may
// delete anyone's message. Every moderation action is an event in the
// channel's stream, under its own seq, so it replays.

// ActionModerate mutes, unmutes, bans or unbans a user of a channel, or
// sets the user's role (Moderate).
const ActionModerate = "moderate"

// Moderation ops: the "op" of a moderate request, a publish API moderation
// body and a moderation event.
const (
	// ModMute: the user may read but not send, edit, react or type until
	// the mute ends (Seconds from now).
	ModMute = "mute"
	// ModUnmute ends a mute early.
	ModUnmute = "unmute"
	// ModBan: the user's connections are taken out of the channel at once
	// and the user cannot join it until unbanned.
	ModBan = "ban"
	// ModUnban lets a banned user join again.
	ModUnban = "unban"
	// ModRole sets the user's role in the channel (Role).
	ModRole = "role"
)

// ModerationOps lists the moderation ops.
var ModerationOps = []string{ModMute, ModUnmute, ModBan, ModUnban, ModRole}

// Roles of a user in a channel, lowest first. A user with no role named is
// a member.
const (
	RoleMember    = "member"
	RoleModerator = "moderator"
	RoleOwner     = "owner"
)

// RoleRank orders roles: a user may moderate only users of a lower rank
// (0 for a role that is not one of the three).
func RoleRank(role string) int {
	switch role {
	case RoleMember, "":
		return 1
	case RoleModerator:
		return 2
	case RoleOwner:
		return 3
	}
	return 0
}

// Limits of moderation.
const (
	// MaxMute bounds one mute's duration.
	MaxMute = 30 * 24 * time.Hour
	// MaxReasonRunes bounds a moderation reason, shown to every member.
	MaxReasonRunes = 200
)

// Moderate applies Op to UserID in Channel. Seconds is a mute's duration
// (1 to MaxMute); Role is the role to set (ModRole: member or moderator
// in-band; a backend may also make owners); Reason, optional, is shown
// with the event. ClientID makes it idempotent as for a send; the answer
// is an Ack with action "moderate" and the event's seq.
type Moderate struct {
	Channel  string `json:"channel"`
	Op       string `json:"op"`
	UserID   string `json:"userId"`
	Seconds  int64  `json:"seconds,omitempty"`
	Role     string `json:"role,omitempty"`
	Reason   string `json:"reason,omitempty"`
	ClientID string `json:"clientId"`
}

func (*Moderate) Action() string { return ActionModerate }

func (r *Moderate) MarshalJSON() ([]byte, error) {
	type plain Moderate
	return withKey("action", r.Action(), (*plain)(r))
}

// TypeModeration is a moderation action in a channel's stream.
const TypeModeration = "moderation"

// ModerationEntry is one moderation action in a channel's stream: Op
// applied to UserID (UserName as the actor knew it: the user id unless
// the user is on the channel's list or in its roster) by ByID (ByName; a
// backend's is "server" with From "server"), stored as Seq. Until is when
// a mute ends; Role is the role set.
type ModerationEntry struct {
	Seq      int64      `json:"seq"`
	Op       string     `json:"op"`
	UserID   string     `json:"userId"`
	UserName string     `json:"userName,omitempty"`
	ByID     string     `json:"byId"`
	ByName   string     `json:"byName"`
	From     string     `json:"from,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	Role     string     `json:"role,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	ClientID string     `json:"clientId,omitempty"`
	At       time.Time  `json:"at"`
}

// Moderation delivers one moderation action to a channel's members (a
// banned user's connections get it before they are removed).
type Moderation struct {
	Channel string `json:"channel"`
	ModerationEntry
}

func (Moderation) EventType() string { return TypeModeration }

func (e Moderation) MarshalJSON() ([]byte, error) {
	type plain Moderation
	return withType(e.EventType(), plain(e))
}

// Error codes of moderation.
const (
	// CodeMuted: the user is muted in the channel (until the time in the
	// message): it may read but not send, edit, react or type.
	CodeMuted Code = "muted"
	// CodeBanned: the user is banned from the channel and cannot join it
	// until unbanned.
	CodeBanned Code = "banned"
)

// RemovedByBan is the reason of the Removed event a banned user's
// connections get.
const RemovedByBan = "banned"

// The publish API's moderation route: a backend applies any op to any
// user of any channel (public or private), shown as "server".
const PublishRouteModerate = "POST /channels/{channel}/moderation"

// ModerationBody is the body of POST /channels/{channel}/moderation: a
// Moderate without channel (the path's) and with ID for clientId.
type ModerationBody struct {
	Op      string `json:"op"`
	UserID  string `json:"userId"`
	Seconds int64  `json:"seconds,omitempty"`
	Role    string `json:"role,omitempty"`
	Reason  string `json:"reason,omitempty"`
	ID      string `json:"id"`
}

// Moderated answers a moderation (in the publish API): the event's Seq,
// a mute's Until, and the user's connections a ban took out of the
// channel.
type Moderated struct {
	Channel     string     `json:"channel"`
	Op          string     `json:"op"`
	UserID      string     `json:"userId"`
	Seq         int64      `json:"seq"`
	Until       *time.Time `json:"until,omitempty"`
	Connections int        `json:"connections"`
}

// CheckReason reports whether r is an acceptable moderation reason: at
// most MaxReasonRunes characters of valid UTF-8 without control
// characters ("" is fine).
func CheckReason(r string) bool {
	if !utf8.ValidString(r) || utf8.RuneCountInString(r) > MaxReasonRunes {
		return false
	}
	for _, c := range r {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}
