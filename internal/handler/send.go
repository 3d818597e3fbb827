package handler

import (
	"context"
	"errors"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire/events"
)

// SendStore is what send reads and writes.
type SendStore interface {
	MessageStore
	LifecycleStore
	// CheckSend reads the connection's grant, its membership of channel
	// and the channel's size, in one call.
	CheckSend(ctx context.Context, channel, connID string) (chat.SendCheck, error)
}

// sendAction serves send. Its steps are single-item writes in an order
// that makes any prefix of them safe to repeat (Deliverer.Deliver runs 1–4):
//
//  0. read, in one call, the connection's grant, the sender's membership
//     and the channel's size (which prices the send against the channel's
//     rate and saves the broadcast its own read);
//  1. take the next seq from the channel's counter (refused over the
//     channel's rate), then claim (channel, userId, clientId) with it,
//     unless a claim exists: then this is a retry, the stored claim's seq
//     is the message's, and the seq just taken is a gap that history
//     settles;
//  2. write the history item under that seq, unless its slot is taken (a
//     rewrite of the same message succeeds); a slot that history settled
//     with a tombstone meanwhile makes the send take a new seq, rebind its
//     claim to it and store there: renumbered, never lost, acked once;
//  3. fan out "message" to the members (not to the sender's connection
//     when it asked for no echo: its ack carries the message);
//  4. ack {clientId, seq} to the sender.
//
// A crash after any step leaves a claim that a retry with the same clientId
// completes: no second message, one history item. The ack comes only after
// step 2, so an acknowledged message is always in history. Delivery is at
// least once: a retry fans out again, and clients drop a seq they have
// already seen.
type sendAction struct {
	store   SendStore
	deliver *Deliverer
	replier replier
	gate    *hookGate // nil: no before-send hook
	// defaults is Config.DefaultChannels: the capabilities of a grant
	// without any.
	defaults string
}

// access decides a send from what CheckSend read, as Chat.limit's grant
// read and requireAccess decide every other request: a connection the
// store does not know is not registered, an ended grant token_expired;
// then the grant's capabilities and a member list's private membership
// say whether it may write, and a public channel needs the membership.
func (h *sendAction) access(rq *request, channel string, sc chat.SendCheck) error {
	switch {
	case !sc.Registered:
		return errNotRegistered()
	case !sc.Grant.Until.IsZero() && !sc.Grant.Until.After(rq.Now):
		return errTokenExpired()
	}
	rq.Caps = capsOf(sc.Grant.Capabilities, h.defaults)
	if rq.Caps.Allows(channel, chat.RightWrite) {
		if sc.Member == nil {
			return notMember(channel)
		}
		return nil
	}
	if sc.Member == nil || !sc.Member.Private {
		return requireRight(rq, channel, chat.RightWrite)
	}
	return nil
}

func (h *sendAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Send)
	if err := checkText(r.Text); err != nil {
		return err
	}
	sc, err := h.store.CheckSend(ctx, r.Channel, rq.ConnectionID)
	if err != nil {
		return err
	}
	if err := h.access(rq, r.Channel, sc); err != nil {
		return err
	}
	// The membership read carries a mute (#21 part 2).
	if err := requireVoice(rq, *sc.Member); err != nil {
		return err
	}
	post := Post{
		Channel:  r.Channel,
		Text:     r.Text,
		ClientID: r.ClientID,
		Caller:   rq.UserID,
		Identity: rq.Identity,
		Now:      rq.Now,
		Budget:   rq.Budget,
		ReplyTo:  r.ReplyTo,
		Size:     &sc.Size,
	}
	ackOnly := r.Echo != nil && !*r.Echo && r.ReplyTo == 0
	if ackOnly {
		post.Except = rq.ConnectionID
	}
	if r.ReplyTo != 0 {
		parent, err := h.parent(ctx, r.Channel, r.ReplyTo)
		if err != nil {
			return err
		}
		post.Parent = &parent
	}
	// The hook runs after every check and before anything is written: a
	// rejected message leaves no claim, no seq and no history item, so no
	// event either.
	text, err := h.gate.check(ctx, rq, events.BeforeSend{Action: events.HookActionSend, Channel: r.Channel, ClientID: r.ClientID,
		Text: r.Text, ReplyTo: r.ReplyTo})
	if err != nil {
		return err
	}
	post.Text, post.SentText = text, r.Text
	msg, err := h.deliver.Deliver(ctx, post)
	if err != nil {
		return err
	}
	ack := protocol.Ack{Channel: r.Channel, ClientID: r.ClientID, Seq: msg.Seq}
	if ackOnly {
		// The ack is the sender's only copy of the message: it carries what
		// the sender does not know, and the text only when a hook replaced it.
		at := msg.SentAt.UTC()
		ack.SentAt, ack.UserID, ack.UserName = &at, msg.UserID, msg.UserName
		if msg.Text != r.Text {
			ack.Text = msg.Text
		}
	}
	return h.replier.reply(ctx, rq, ack)
}

// parent reads and checks the message a reply names, before anything is
// written: a message, not deleted, not itself a reply.
func (h *sendAction) parent(ctx context.Context, channel string, seq int64) (chat.Message, error) {
	m, err := h.store.GetMessage(ctx, channel, seq)
	if errors.Is(err, chat.ErrNotFound) {
		return m, errNotMessage(channel, seq)
	}
	if err != nil {
		return m, err
	}
	var r *chat.Refusal
	if _, err := m.Apply(chat.Change{Op: chat.OpReply}); errors.As(err, &r) {
		return m, refusalError(r)
	}
	return m, nil
}

// entryOf is a message's wire entry, with its current state.
func entryOf(m chat.Message) protocol.Entry {
	e := protocol.Entry{
		Seq:      m.Seq,
		UserID:   m.UserID,
		UserName: m.UserName,
		Text:     m.Text,
		ClientID: m.ClientID,
		From:     m.From,
		SentAt:   m.SentAt.UTC(),
	}
	lifecycleEntry(&e, m)
	return e
}
