package chat

import "time"

// ChangeKind names a stored change that integrations are told about (an
// EventBridge event each; see wire/events for the details consumers get).
type ChangeKind string

// The kinds of change. Each is read from one item's write in the table: the
// history item (message: stored; its state changed by an edit, a delete, a
// reaction or a reply), the membership item (member), the channel's item
// when its member count crosses 0 ↔ 1 (channel), the connection item
// (connection), a notice's record (notice), a moderation action's history
// item (moderation).
const (
	ChangeMessageCreated   ChangeKind = "message.created"
	ChangeMemberJoined     ChangeKind = "member.joined"
	ChangeMemberLeft       ChangeKind = "member.left"
	ChangeChannelOccupied  ChangeKind = "channel.occupied"
	ChangeChannelVacated   ChangeKind = "channel.vacated"
	ChangeConnectionOpened ChangeKind = "connection.opened"
	ChangeConnectionClosed ChangeKind = "connection.closed"
	ChangeUserNotified     ChangeKind = "user.notified"
	ChangeMessageEdited    ChangeKind = "message.edited"
	ChangeMessageDeleted   ChangeKind = "message.deleted"
	ChangeReactionAdded    ChangeKind = "reaction.added"
	ChangeReactionRemoved  ChangeKind = "reaction.removed"
	// ChangeModeration is a moderation action stored in the channel's
	// stream (mute, unmute, ban, unban, role).
	ChangeModeration ChangeKind = "moderation"
	// ChangeApplied is a message's state written with a new Pend: the
	// stream item at that seq (a change, or a reply) took effect. The
	// item names what happened, so the store reads it to resolve this
	// into one of the kinds above; it never reaches the bus.
	ChangeApplied ChangeKind = "applied"
)

// StoredChange is one stored change. Only the field of its kind is set.
type StoredChange struct {
	// ID is the same on every delivery of this change (the stream record's
	// id), so consumers can drop repeats.
	ID   string
	Kind ChangeKind
	// At is when the change was written, to the second (the stream's
	// clock); kinds that store their own time carry it in their field too.
	At time.Time
	// Expired: the database removed the item when its TTL passed, not a
	// handler (member.left, connection.closed).
	Expired bool

	// Message is the message stored (message.created) or, for the
	// lifecycle's kinds, the changed message's state after the change.
	Message Message
	// Change is the edit, delete or reaction (its seq, op, who, emoji).
	Change     Change
	Member     Member     // member.joined, member.left
	Channel    string     // channel.occupied, channel.vacated
	Connection Connection // connection.opened, connection.closed
	Notice     NoticeSent // user.notified
	Moderation Moderation // moderation
}

// NoticeSent records a backend's notice to one user's live connections.
type NoticeSent struct {
	UserID      string
	ID          string // the backend's id of the notice, "" when none
	FromName    string // the backend's display name
	Text        string
	Connections int // the user's live connections
	Delivered   int // those that took the notice
	At          time.Time
	ExpiresAt   time.Time
}

// BusEvent is one event for the event bus: its detail-type, its JSON
// detail and the time of the change it reports.
type BusEvent struct {
	DetailType string
	Detail     []byte
	Time       time.Time
}
