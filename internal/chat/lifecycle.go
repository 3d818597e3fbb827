package chat

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The message lifecycle: a change (edit, delete, reaction) is an item in
// the channel's stream under its own seq, like a message, and is applied
// to its target message's item, which always holds the message's current
// state. A reply is a message that changes its parent (the reply count).
//
// Every write of a target message is conditional on the state read just
// before it (optimistic concurrency on Rev and Pend) and records the seq
// of the change as the new Rev, so a message's states are totally ordered
// by Rev and every state is one the message really had. Pend names the
// last change applied whose stream item may still say "pending"; before
// the next write of the message that item is marked applied, so "was
// change S applied?" always has an answer: Pend == S, or S's item says
// applied. See internal/handler's Deliverer.Change for the whole pipeline.

// Ops: what a change does to its target.
const (
	OpEdit    = "edit"
	OpDelete  = "delete"
	OpReact   = "react"
	OpUnreact = "unreact"
	// OpReply is a reply counted on its parent; its stream item is the
	// reply message itself.
	OpReply = "reply"
)

// Status is where a stream item that changes another message stands.
type Status string

const (
	// StatusFinal: a plain message (nothing to apply).
	StatusFinal Status = ""
	// StatusPending: stored, not known to be applied to its target yet.
	StatusPending Status = "p"
	// StatusApplied: applied to its target.
	StatusApplied Status = "a"
	// StatusVoid: never applied and never will be; the seq holds nothing
	// (like a tombstone), and a voided reply's text is erased.
	StatusVoid Status = "v"
)

// ReactionSet is one emoji on a message and who reacted with it, as
// reactor ids (ReactorID), in the order the emoji was first added.
type ReactionSet struct {
	Emoji string
	Users []string
}

// Change is one change in a channel's stream: Op by Identity to message
// Target, stored as Seq.
type Change struct {
	Channel string
	Seq     int64
	Op      string
	Target  int64
	Identity
	ClientID string
	Emoji    string
	// Text is an edit's new text. It is kept on the change's item only
	// until the edit is applied (then the target holds it), so the store
	// never keeps a text that a later edit replaced or a delete erased.
	Text      string
	At        time.Time
	ExpiresAt time.Time
	Status    Status
}

// ReactorID is how a user is recorded among a message's reactors: 72 bits
// of SHA-256 of the user id, so a message with thousands of reactions
// stays small and does not list who reacted.
func ReactorID(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// Refusal is a change the target's current state does not allow. Kind
// tells the handler which error code to answer with.
type Refusal struct {
	Kind    RefusalKind
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// RefusalKind classifies a Refusal.
type RefusalKind int

const (
	// RefuseNotMessage: the seq holds no message (nothing, a tombstone, a
	// change, or a message past retention).
	RefuseNotMessage RefusalKind = iota + 1
	// RefuseDeleted: the message is deleted.
	RefuseDeleted
	// RefuseIsReply: a reply cannot have replies.
	RefuseIsReply
	// RefuseLimit: a reaction limit.
	RefuseLimit
)

func refuse(kind RefusalKind, format string, args ...any) error {
	return &Refusal{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ErrUnchanged: the change would not change the message (a reaction that
// is already there or already gone, a delete of a deleted message).
var ErrUnchanged = errors.New("unchanged")

// Reaction limits (the wire contract's, restated here so the domain does
// not import the wire package; internal/protocol's test keeps them equal).
const (
	MaxEmojiPerMessage     = 20
	MaxReactionsPerUser    = 10
	MaxReactionsPerMessage = 4000
)

// Apply returns m after c, or a *Refusal, or ErrUnchanged. It checks what
// m's state decides; who may make the change is the handler's decision.
func (m Message) Apply(c Change) (Message, error) {
	next := m
	next.Reactions = cloneReactions(m.Reactions)
	switch c.Op {
	case OpEdit:
		if m.Deleted {
			return m, refuse(RefuseDeleted, "message %d is deleted; it cannot be edited", m.Seq)
		}
		next.Text, next.EditedAt = c.Text, c.At
	case OpDelete:
		if m.Deleted {
			return m, ErrUnchanged
		}
		// Erased, not hidden: the text and the reactions go; the seq,
		// author, time and reply count stay so threads stay coherent.
		next.Text, next.Deleted, next.EditedAt, next.Reactions = "", true, c.At, nil
	case OpReact:
		return m.react(next, c)
	case OpUnreact:
		return m.unreact(next, c)
	case OpReply:
		if m.Deleted {
			return m, refuse(RefuseDeleted, "message %d is deleted; it cannot be replied to", m.Seq)
		}
		if m.ReplyTo != 0 {
			return m, refuse(RefuseIsReply, "message %d is a reply; reply to its parent %d instead", m.Seq, m.ReplyTo)
		}
		next.Replies++
	default:
		return m, fmt.Errorf("apply: unknown op %q", c.Op)
	}
	return next, nil
}

func (m Message) react(next Message, c Change) (Message, error) {
	if m.Deleted {
		return m, refuse(RefuseDeleted, "message %d is deleted; it cannot be reacted to", m.Seq)
	}
	who := ReactorID(c.UserID)
	total, mine := 0, 0
	at := -1
	for i, r := range m.Reactions {
		total += len(r.Users)
		if slices.Contains(r.Users, who) {
			mine++
			if r.Emoji == c.Emoji {
				return m, ErrUnchanged
			}
		}
		if r.Emoji == c.Emoji {
			at = i
		}
	}
	switch {
	case mine >= MaxReactionsPerUser:
		return m, refuse(RefuseLimit, "you have %d reactions on message %d, the most allowed; remove one first", mine, m.Seq)
	case at < 0 && len(m.Reactions) >= MaxEmojiPerMessage:
		return m, refuse(RefuseLimit, "message %d has %d different emoji, the most allowed; react with one of them", m.Seq, len(m.Reactions))
	case total >= MaxReactionsPerMessage:
		return m, refuse(RefuseLimit, "message %d has %d reactions, the most allowed", m.Seq, total)
	}
	if at < 0 {
		next.Reactions = append(next.Reactions, ReactionSet{Emoji: c.Emoji})
		at = len(next.Reactions) - 1
	}
	next.Reactions[at].Users = append(next.Reactions[at].Users, who)
	return next, nil
}

func (m Message) unreact(next Message, c Change) (Message, error) {
	who := ReactorID(c.UserID)
	for i, r := range next.Reactions {
		if r.Emoji != c.Emoji {
			continue
		}
		j := slices.Index(r.Users, who)
		if j < 0 {
			break
		}
		r.Users = slices.Delete(r.Users, j, j+1)
		if len(r.Users) == 0 {
			next.Reactions = slices.Delete(next.Reactions, i, i+1)
		} else {
			next.Reactions[i] = r
		}
		return next, nil
	}
	return m, ErrUnchanged
}

func cloneReactions(rs []ReactionSet) []ReactionSet {
	if rs == nil {
		return nil
	}
	out := make([]ReactionSet, len(rs))
	for i, r := range rs {
		out[i] = ReactionSet{Emoji: r.Emoji, Users: slices.Clone(r.Users)}
	}
	return out
}

// CurrentRev is the message's rev: the seq of the last change applied, or
// its own seq when it never changed.
func (m Message) CurrentRev() int64 { return max(m.Rev, m.Seq) }

// UserChannel is one channel in a user's channel list: joined once (on
// any device) and not left since; LastRead is the user's last-read seq.
type UserChannel struct {
	Channel  string
	LastRead int64
}

// ChannelSummary is what the channel list shows of one channel.
type ChannelSummary struct {
	LastSeq    int64
	Unread     int
	UnreadMore bool
	Last       *Message // nil when the channel has no live message
}
