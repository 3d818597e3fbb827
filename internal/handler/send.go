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
	MemberChecker
	MessageStore
	LifecycleStore
}

// sendAction serves send. Its steps are single-item writes in an order
// that makes any prefix of them safe to repeat (Deliverer.Deliver runs 1–5):
//
//  1. claim (channel, userId, clientId), unless a claim exists: then this is
//     a retry, and the stored claim says what was already done;
//  2. take the next seq from the channel's counter and bind it to the claim
//     (a concurrent attempt that bound one first wins; ours becomes a gap);
//  3. write the history item under that seq, unless its slot is taken (a
//     rewrite of the same message succeeds); a slot that history settled
//     with a tombstone meanwhile makes the send take a new seq, rebind its
//     claim to it and store there: renumbered, never lost, acked once;
//  4. fan out "message" to the members;
//  5. mark the claim delivered;
//  6. ack {clientId, seq} to the sender.
//
// A crash after any step leaves a claim that a retry with the same clientId
// completes: no second seq, one history item, and no second fan-out once
// step 5 is done. The ack comes only after step 3, so an acknowledged
// message is always in history. Delivery is at least once: a crash between
// steps 4 and 5 makes the retry fan out again, and clients drop a seq they
// have already seen.
type sendAction struct {
	store   SendStore
	deliver *Deliverer
	replier replier
	gate    *hookGate // nil: no before-send hook
}

func (h *sendAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Send)
	if err := checkText(r.Text); err != nil {
		return err
	}
	m, err := requireAccess(ctx, h.store, rq, r.Channel, chat.RightWrite)
	if err != nil {
		return err
	}
	if err := requireVoice(rq, m); err != nil {
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
	seq, err := h.deliver.Deliver(ctx, post)
	if err != nil {
		return err
	}
	return h.replier.reply(ctx, rq, protocol.Ack{Channel: r.Channel, ClientID: r.ClientID, Seq: seq})
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
