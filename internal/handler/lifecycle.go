package handler

import (
	"context"
	"errors"
	"strconv"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire/events"
)

// ChangeStore is what edit, delete, react and unreact read before they
// run a change through Deliverer.Change.
type ChangeStore interface {
	MemberChecker
	StandingReader
	GetMessage(ctx context.Context, channel string, seq int64) (chat.Message, error)
	FindClaim(ctx context.Context, k chat.ClaimKey) (chat.Claim, error)
}

// changeAction serves edit, delete, react and unreact. It checks the
// request against the message as it is (so bad input is refused before
// anything is written), then runs the change through the channel's
// stream (Deliverer.Change) and acks with the change's seq.
type changeAction struct {
	store   ChangeStore
	deliver *Deliverer
	replier replier
	gate    *hookGate // nil: no before-send hook (it sees edits' new text)
}

// changeOf reads the fields every change has.
func changeOf(in protocol.Request) (c chat.Change, right chat.Right) {
	switch r := in.(type) {
	case *protocol.Edit:
		return chat.Change{Channel: r.Channel, Op: chat.OpEdit, Target: r.Seq, Text: r.Text, ClientID: r.ClientID}, chat.RightWrite
	case *protocol.Delete:
		return chat.Change{Channel: r.Channel, Op: chat.OpDelete, Target: r.Seq, ClientID: r.ClientID}, chat.RightWrite
	case *protocol.React:
		return chat.Change{Channel: r.Channel, Op: chat.OpReact, Target: r.Seq, Emoji: r.Emoji, ClientID: r.ClientID}, chat.RightRead
	case *protocol.Unreact:
		return chat.Change{Channel: r.Channel, Op: chat.OpUnreact, Target: r.Seq, Emoji: r.Emoji, ClientID: r.ClientID}, chat.RightRead
	}
	return chat.Change{}, 0
}

func (h *changeAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	c, right := changeOf(in)
	c.Identity, c.At = rq.Identity, rq.Now
	if c.Op == chat.OpEdit {
		if err := checkText(c.Text); err != nil {
			return err
		}
	}
	member, err := requireAccess(ctx, h.store, rq, c.Channel, right)
	if err != nil {
		return err
	}
	if c.Op != chat.OpDelete {
		// A muted user may still delete its own messages.
		if err := requireVoice(rq, member); err != nil {
			return err
		}
	}
	m, err := h.store.GetMessage(ctx, c.Channel, c.Target)
	if errors.Is(err, chat.ErrNotFound) {
		return errNotMessage(c.Channel, c.Target)
	}
	if err != nil {
		return err
	}
	if err := authorize(ctx, h.store, c.Channel, rq.Identity, m, c.Op); err != nil {
		return err
	}
	if c.ClientID == "" {
		// react and unreact without a clientId (a stock client): one per
		// (op, message, emoji, state), so a repeat of the same request on
		// the same state is recognised as a retry, and a new reaction
		// after an unreact is not.
		c.ClientID = derivedClientID(c, m)
	}
	ack := protocol.Ack{Action: c.Op, Channel: c.Channel, ClientID: c.ClientID}
	_, err = m.Apply(c)
	var r *chat.Refusal
	switch {
	case errors.As(err, &r):
		return refusalError(r)
	case errors.Is(err, chat.ErrUnchanged):
		// Nothing to do, unless this is the retry of a request that made
		// the very change: then it must be completed (fanned out).
		if _, err := h.store.FindClaim(ctx, chat.ClaimKey{Channel: c.Channel, UserID: rq.UserID, ClientID: c.ClientID}); errors.Is(err, chat.ErrNotFound) {
			return h.replier.reply(ctx, rq, ack)
		} else if err != nil {
			return err
		}
	case err != nil:
		return err
	}
	post := ChangePost{Channel: c.Channel, Op: c.Op, Target: c.Target, Text: c.Text, Emoji: c.Emoji,
		ClientID: c.ClientID, Identity: rq.Identity, Now: rq.Now, Budget: rq.Budget, Observed: &m}
	if c.Op == chat.OpEdit {
		// An edit's new text passes the before-send hook like a message,
		// after every check and before anything is written.
		if post.Text, err = h.gate.check(ctx, rq, events.BeforeSend{Action: events.HookActionEdit, Channel: c.Channel,
			ClientID: c.ClientID, Text: c.Text, Seq: c.Target}); err != nil {
			return err
		}
		post.SentText = c.Text
	}
	ack.Seq, err = h.deliver.Change(ctx, post)
	if err != nil {
		return err
	}
	return h.replier.reply(ctx, rq, ack)
}

// authorize decides who may make a change to message m: anyone who may
// read the channel may react; only the author may edit; the author, or an
// owner or moderator of the channel, may delete. This is the one place
// that rule lives. Only a delete of another's message reads the deleter's
// standing (one GetItem).
func authorize(ctx context.Context, store StandingReader, channel string, who chat.Identity, m chat.Message, op string) error {
	if m.UserID == who.UserID {
		return nil
	}
	switch op {
	case chat.OpEdit:
		return protocol.Errorf(protocol.CodeForbidden, "", "message %d is not yours: only its author may edit it", m.Seq)
	case chat.OpDelete:
		st, err := store.Standing(ctx, channel, who.UserID)
		if err != nil {
			return err
		}
		if !st.Moderates() {
			return protocol.Errorf(protocol.CodeForbidden, "", "message %d is not yours: only its author or a moderator of %s may delete it", m.Seq, channel)
		}
	}
	return nil
}

func derivedClientID(c chat.Change, m chat.Message) string {
	return "auto-" + chat.TextHash(c.Op + "\x00" + strconv.FormatInt(c.Target, 10) + "\x00" + c.Emoji + "\x00" + strconv.FormatInt(m.CurrentRev(), 10))[:24]
}

// entryFor is a message's wire entry as one user sees it: its reactions
// say which are the user's own (mine).
func entryFor(m chat.Message, userID string) protocol.Entry {
	e := entryOf(m)
	if userID != "" && len(e.Reactions) > 0 {
		me := chat.ReactorID(userID)
		for i, r := range m.Reactions {
			for _, u := range r.Users {
				if u == me {
					e.Reactions[i].Mine = true
					break
				}
			}
		}
	}
	return e
}

// lifecycleEntry adds a message's current state to its wire entry.
func lifecycleEntry(e *protocol.Entry, m chat.Message) {
	e.ReplyTo, e.Replies, e.Deleted = m.ReplyTo, m.Replies, m.Deleted
	if m.Rev > m.Seq {
		e.Rev = m.Rev
	}
	if !m.EditedAt.IsZero() {
		at := m.EditedAt.UTC()
		e.EditedAt = &at
	}
	for _, r := range m.Reactions {
		e.Reactions = append(e.Reactions, protocol.Reaction{Emoji: r.Emoji, Count: len(r.Users)})
	}
}
