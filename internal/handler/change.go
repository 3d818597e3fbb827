package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/protocol"
)

// LifecycleStore is what changes (edit, delete, react, unreact) and
// replies write besides a send's steps (MessageStore); *dynamo.Store
// implements it.
type LifecycleStore interface {
	GetMessage(ctx context.Context, channel string, seq int64) (chat.Message, error)
	ItemStatus(ctx context.Context, channel string, seq int64) (chat.Status, error)
	PutChange(ctx context.Context, c chat.Change) error
	WriteState(ctx context.Context, channel string, obs, next chat.Message, seq int64) (chat.Message, error)
	MarkApplied(ctx context.Context, channel string, seq int64) error
	Void(ctx context.Context, channel string, seq int64) error
	PutThreadEntry(ctx context.Context, channel string, parent, seq int64, expires time.Time) error
	FindClaim(ctx context.Context, k chat.ClaimKey) (chat.Claim, error)
}

// ChangePost is one change to store, apply and fan out.
type ChangePost struct {
	Channel string
	Op      string // chat.OpEdit, OpDelete, OpReact, OpUnreact
	Target  int64
	Text    string // an edit's
	// SentText is the edit's text as the client sent it, when the hook
	// replaced it (Text): a retry is recognised by what the client sent.
	SentText string
	Emoji    string // a reaction's
	ClientID string
	chat.Identity
	Now    time.Time
	Budget *chat.Budget
	// Observed is the target as the action read it to check the request,
	// used as the first observation of the optimistic write.
	Observed *chat.Message
}

// outcome of applying a stream item to its target.
type outcome int

const (
	applied   outcome = iota // the target's state includes it
	stale                    // the target moved past its seq without it: renumber
	refused                  // the target's state does not allow it
	unchanged                // it would not change the target
)

// maxApplyTries bounds the optimistic writes of one change: each failed
// one lost to a concurrent change of the same message, which succeeded.
const maxApplyTries = 10

// Change runs a change through the channel's stream, on the same steps as
// a send (Deliver), so replay, dedupe, order and the SDKs' exactly-once
// delivery cover it unchanged:
//
//  1. claim (channel, userId, clientId) with a digest of the change; a
//     retry finds the claim and completes what is missing;
//  2. take the next seq and bind it to the claim;
//  3. store the change under that seq, pending (an edit's new text on it
//     until it is applied: then only the target holds it);
//  4. apply it to the target: read the message, mark the change its Pend
//     names applied, check the change against the state, write the new
//     state with rev = seq and pend = seq, on the condition that the rev
//     and pend read are unchanged (else read again). A target already
//     past seq without this change means the seq came too late: void it,
//     take a new seq, store and apply there (renumbered, never lost);
//  5. fan out "update" with the target's new state;
//  6. mark the claim delivered; the caller acks.
//
// It returns the change's seq, or 0 when the change would not change the
// message (a reaction already there, a delete of a deleted message).
func (d *Deliverer) Change(ctx context.Context, p ChangePost) (int64, error) {
	key := chat.ClaimKey{Channel: p.Channel, UserID: p.UserID, ClientID: p.ClientID}
	hash := chat.TextHash(p.Op + "\x00" + strconv.FormatInt(p.Target, 10) + "\x00" + p.Emoji + "\x00" + clientText(p.SentText, p.Text))
	claim, _, seq, err := d.claimSeq(ctx, key, hash, p.Now, nil)
	if err != nil || claim.Delivered {
		return seq, err
	}
	c := chat.Change{Channel: p.Channel, Seq: seq, Op: p.Op, Target: p.Target, Identity: p.Identity, ClientID: p.ClientID,
		Emoji: p.Emoji, Text: p.Text, At: claim.SentAt, ExpiresAt: claim.SentAt.Add(d.Retention)}
	obs := p.Observed
	for range maxRenumber {
		err := d.Lifecycle.PutChange(ctx, c)
		if errors.Is(err, chat.ErrConflict) {
			if c.Seq, err = d.renumber(ctx, key, c.Seq); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		res, state, err := d.apply(ctx, p.Channel, c.Seq, p.Target, obs, func(m chat.Message) (chat.Message, error) { return m.Apply(c) })
		obs = nil
		switch {
		case res == refused || res == unchanged:
			// Refused or unchanged after all (the message changed since
			// the action checked it): the seq holds nothing.
			if verr := d.Lifecycle.Void(ctx, p.Channel, c.Seq); verr != nil {
				return 0, verr
			}
			return 0, err
		case err != nil:
			return 0, err
		case res == stale:
			if err := d.Lifecycle.Void(ctx, p.Channel, c.Seq); err != nil {
				return 0, err
			}
			if c.Seq, err = d.renumber(ctx, key, c.Seq); err != nil {
				return 0, err
			}
			continue
		}
		update := protocol.Update{Channel: p.Channel, Message: entryOf(state), UpdateEntry: protocol.UpdateEntry{
			Seq: c.Seq, Action: c.Op, Target: c.Target, UserID: c.UserID, UserName: c.UserName,
			Emoji: c.Emoji, ClientID: c.ClientID, At: c.At.UTC(),
		}}
		return c.Seq, d.fanOut(ctx, key, p.Budget, p.Channel, c.Seq, chat.Audience{}, update)
	}
	return 0, fmt.Errorf("change: seq settled or overtaken %d times in a row: %w", maxRenumber, chat.ErrUnavailable)
}

// claimSeq runs steps 1 and 2 of a send or a change: it takes the next
// seq, then claims (channel, userId, clientId) with it, in two writes (the
// claim carries its seq from the start; binding it was a third write until
// issue #23). A retry finds the first attempt's claim and its seq: the seq
// it took itself will never be stored, and it settles it at once (a
// tombstone, one write on that path only), so members' streams do not wait
// out history's grace period for it. Over the channel's rate, a retry whose claim has a seq is
// still served (one more read, on that path only): what it asks for was
// already paid. created reports that this call made the claim.
func (d *Deliverer) claimSeq(ctx context.Context, key chat.ClaimKey, hash string, now time.Time, size *chat.ChannelSize) (chat.Claim, bool, int64, error) {
	taken, err := d.takeSeq(ctx, key.Channel, size)
	if err != nil {
		var perr *protocol.Error
		if !errors.As(err, &perr) || perr.Code != protocol.CodeRateLimited {
			return chat.Claim{}, false, 0, err
		}
		claim, ferr := d.Store.FindClaim(ctx, key)
		if ferr != nil || claim.Seq == 0 {
			return chat.Claim{}, false, 0, err
		}
		if claim.TextHash != hash {
			return claim, false, 0, errReused(key.ClientID)
		}
		return claim, false, claim.Seq, nil
	}
	claim, created, err := d.Store.Claim(ctx, chat.Claim{ClaimKey: key, TextHash: hash, SentAt: now, ExpiresAt: now.Add(d.Retention), Seq: taken})
	if err != nil {
		return claim, false, 0, err
	}
	if !created {
		if err := d.Store.Discard(ctx, key.Channel, taken, d.Retention); err != nil {
			d.Log.LogAttrs(ctx, slog.LevelWarn, "discard seq failed", slog.String("channel", key.Channel), slog.Int64("seq", taken), logging.Err(err))
		}
		if claim.TextHash != hash {
			return claim, false, 0, errReused(key.ClientID)
		}
	}
	seq := claim.Seq
	if seq == 0 {
		// A claim of the previous version, made before its seq was taken.
		if seq, err = d.Store.SetClaimSeq(ctx, key, taken); err != nil {
			return claim, false, 0, err
		}
	}
	return claim, created, seq, nil
}

func errReused(clientID string) error {
	return protocol.Errorf(protocol.CodeInvalidField, "", "clientId %s was already used for a different request", clientID)
}

// renumber moves a claim from seq to a newly taken one.
func (d *Deliverer) renumber(ctx context.Context, key chat.ClaimKey, from int64) (int64, error) {
	taken, err := d.Store.NextSeq(ctx, key.Channel)
	if err != nil {
		return 0, err
	}
	to, err := d.Store.RebindClaimSeq(ctx, key, from, taken)
	if err != nil {
		return 0, err
	}
	d.Log.LogAttrs(ctx, slog.LevelInfo, "renumbered", slog.String("channel", key.Channel), slog.Int64("from", from), slog.Int64("seq", to))
	return to, nil
}

// MarkDeliveredAbove is the channel size above which a request's claim is
// marked delivered after its broadcast, so that a retry (its ack was lost)
// is only acknowledged. Below it nothing is written after the broadcast and
// a retry fans out again (delivery is at least once; clients drop a seq
// they have seen): the mark costs every request a write unit, $0.625 a
// million, to spare the rare retry a broadcast of at most this many posts
// ($1 a million each). Until issue #23 every request paid the mark.
const MarkDeliveredAbove = 100

// fanOut broadcasts e to the channel's members but a.Except (step 3 of a
// send; 5 of a change), and marks the claim delivered after a broadcast to
// more than MarkDeliveredAbove members.
func (d *Deliverer) fanOut(ctx context.Context, key chat.ClaimKey, budget *chat.Budget, channel string, seq int64, a chat.Audience, e protocol.Event) error {
	frame, err := encodeFrame(e)
	if err != nil {
		return err
	}
	ctx = logging.WithAttrs(ctx, slog.Int64("seq", seq)) // the broadcast's line names the seq it carried
	var stats chat.FanoutStats
	if ab, ok := d.Broadcaster.(chat.AudienceBroadcaster); ok {
		stats, err = ab.BroadcastTo(ctx, budget, channel, a, frame)
	} else {
		stats, err = d.Broadcaster.Broadcast(ctx, budget, channel, frame)
	}
	size := max(stats.Size, int64(stats.Members))
	if size > 0 {
		d.sizes.put(channel, size)
	}
	if err != nil {
		return fmt.Errorf("%s seq %d: %w", e.EventType(), seq, err)
	}
	if size > MarkDeliveredAbove {
		if err := d.Store.MarkDelivered(ctx, key); err != nil {
			// Delivered already; a retry would deliver twice, which
			// clients tolerate. Not worth failing the request.
			d.Log.LogAttrs(ctx, slog.LevelWarn, "mark delivered failed", slog.String("channel", channel), slog.Int64("seq", seq), logging.Err(err))
		}
	}
	return nil
}

// apply applies the stream item at seq to message target with mutate
// (step 4 of Change; a reply's count on its parent too). obs, when set,
// is a state of the target read before seq was taken, used as the first
// observation. It returns the outcome and, when applied, the target's
// state that includes the item; when refused, the error is the client's.
func (d *Deliverer) apply(ctx context.Context, channel string, seq, target int64, obs *chat.Message,
	mutate func(chat.Message) (chat.Message, error)) (outcome, chat.Message, error) {
	for try := 0; try < maxApplyTries; try++ {
		var m chat.Message
		if obs != nil && try == 0 {
			m = *obs
		} else {
			var err error
			m, err = d.Lifecycle.GetMessage(ctx, channel, target)
			if errors.Is(err, chat.ErrNotFound) {
				return refused, m, errNotMessage(channel, target)
			}
			if err != nil {
				return 0, m, err
			}
		}
		if m.Pend == seq {
			return applied, m, nil // by an earlier attempt
		}
		if m.CurrentRev() >= seq {
			// Applied by an earlier attempt (then marked when the next
			// change came), or overtaken: the item's status says which.
			st, err := d.Lifecycle.ItemStatus(ctx, channel, seq)
			if err != nil && !errors.Is(err, chat.ErrNotFound) {
				return 0, m, err
			}
			if st == chat.StatusApplied {
				return applied, m, nil
			}
			return stale, m, nil
		}
		next, err := mutate(m)
		var r *chat.Refusal
		switch {
		case errors.As(err, &r):
			return refused, m, refusalError(r)
		case errors.Is(err, chat.ErrUnchanged):
			return unchanged, m, nil
		case err != nil:
			return 0, m, err
		}
		if m.Pend != 0 {
			// The last change applied may still say pending: settle it
			// before its Pend is overwritten, so "was it applied?" keeps
			// an answer (and its new text, now the target's, is erased).
			if err := d.Lifecycle.MarkApplied(ctx, channel, m.Pend); err != nil {
				return 0, m, err
			}
		}
		got, err := d.Lifecycle.WriteState(ctx, channel, m, next, seq)
		if errors.Is(err, chat.ErrConflict) {
			continue // a concurrent change won: read and try again
		}
		if err != nil {
			return 0, m, err
		}
		return applied, got, nil
	}
	return 0, chat.Message{}, fmt.Errorf("apply seq %d to %d: %d concurrent changes in a row: %w", seq, target, maxApplyTries, chat.ErrUnavailable)
}

// deliverReply is Deliver for a reply: the reply is stored pending (it
// changes its parent), indexed in the parent's thread, counted on the
// parent with the same optimistic write as a change, then fanned out with
// the parent's new state.
//
// The sender's connection gets the message too, whatever p.Except says:
// the frame carries the parent's new reply count, which the ack does not.
func (d *Deliverer) deliverReply(ctx context.Context, p Post) (chat.Message, error) {
	key := chat.ClaimKey{Channel: p.Channel, UserID: p.Caller, ClientID: p.ClientID}
	hash := chat.TextHash(clientText(p.SentText, p.Text) + "\x00reply\x00" + strconv.FormatInt(p.ReplyTo, 10))
	claim, created, seq, err := d.claimSeq(ctx, key, hash, p.Now, p.Size)
	if err != nil {
		return chat.Message{}, err
	}
	retry := !created // a first attempt made the claim
	msg := chat.Message{Channel: p.Channel, Seq: seq, Identity: p.Identity, From: p.From, Text: p.Text, ClientID: p.ClientID,
		ReplyTo: p.ReplyTo, SentAt: claim.SentAt, ExpiresAt: claim.SentAt.Add(d.Retention)}
	if claim.Delivered {
		return msg, nil // marked by the version before issue #23
	}
	obs := p.Parent
	count := func(m chat.Message) (chat.Message, error) { return m.Apply(chat.Change{Op: chat.OpReply}) }
	for range maxRenumber {
		err := d.Store.PutMessage(ctx, msg)
		if errors.Is(err, chat.ErrConflict) {
			if msg.Seq, err = d.renumber(ctx, key, msg.Seq); err != nil {
				return chat.Message{}, err
			}
			continue
		}
		if err != nil {
			return chat.Message{}, err
		}
		if err := d.Lifecycle.PutThreadEntry(ctx, p.Channel, p.ReplyTo, msg.Seq, msg.ExpiresAt); err != nil {
			return chat.Message{}, err
		}
		res, parent, err := d.apply(ctx, p.Channel, msg.Seq, p.ReplyTo, obs, count)
		obs = nil
		switch {
		case res == refused || res == unchanged:
			if verr := d.Lifecycle.Void(ctx, p.Channel, msg.Seq); verr != nil {
				return chat.Message{}, verr
			}
			return chat.Message{}, err
		case err != nil:
			return chat.Message{}, err
		case res == stale:
			if err := d.Lifecycle.Void(ctx, p.Channel, msg.Seq); err != nil {
				return chat.Message{}, err
			}
			if msg.Seq, err = d.renumber(ctx, key, msg.Seq); err != nil {
				return chat.Message{}, err
			}
			continue
		}
		if retry {
			// The reply may have been edited or deleted since the first
			// attempt stored it: fan out what it is now.
			if cur, err := d.Lifecycle.GetMessage(ctx, p.Channel, msg.Seq); err == nil {
				msg = cur
			}
		}
		pe := entryOf(parent)
		return msg, d.fanOut(ctx, key, p.Budget, p.Channel, msg.Seq, chat.Audience{Size: p.Size}, protocol.Message{Channel: p.Channel, Entry: entryOf(msg), Parent: &pe})
	}
	return chat.Message{}, fmt.Errorf("reply: seq settled or overtaken %d times in a row: %w", maxRenumber, chat.ErrUnavailable)
}

func errNotMessage(channel string, seq int64) error {
	return protocol.Errorf(protocol.CodeInvalidField, "", "seq %d of %s is not a message (no such message, or past retention)", seq, channel)
}

// refusalError is the error frame of a change the message's state refuses.
func refusalError(r *chat.Refusal) error {
	switch r.Kind {
	case chat.RefuseLimit:
		return protocol.Errorf(protocol.CodeTooLarge, "", "%s", r.Message)
	default:
		return protocol.Errorf(protocol.CodeInvalidField, "", "%s", r.Message)
	}
}
