package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wschat/internal/chat"
	"wschat/internal/contract"
	"wschat/internal/logging"
	"wschat/internal/metrics"
	"wschat/internal/protocol"
)

// SendStore is what send reads and writes.
type SendStore interface {
	MemberChecker
	Claim(ctx context.Context, c chat.Claim) (stored chat.Claim, created bool, err error)
	NextSeq(ctx context.Context, channel string) (int64, error)
	SetClaimSeq(ctx context.Context, k chat.ClaimKey, seq int64) (int64, error)
	PutMessage(ctx context.Context, m chat.Message) error
	RebindClaimSeq(ctx context.Context, k chat.ClaimKey, from, to int64) (int64, error)
	MarkDelivered(ctx context.Context, k chat.ClaimKey) error
}

// sendAction serves send. Its steps are single-item writes in an order
// that makes any prefix of them safe to repeat:
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
	store       SendStore
	broadcaster chat.Broadcaster
	replier     replier
	retention   time.Duration
	log         *slog.Logger
	meter       Meter
}

func (h *sendAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Send)
	if err := checkText(r.Text); err != nil {
		return err
	}
	if err := requireRight(rq, r.Channel, chat.RightWrite); err != nil {
		return err
	}
	if err := requireMember(ctx, h.store, rq, r.Channel); err != nil {
		return err
	}
	key := chat.ClaimKey{Channel: r.Channel, UserID: rq.UserID, ClientID: r.ClientID}
	hash := chat.TextHash(r.Text)
	claim, created, err := h.store.Claim(ctx, chat.Claim{
		ClaimKey:  key,
		TextHash:  hash,
		SentAt:    rq.Now,
		ExpiresAt: rq.Now.Add(h.retention),
	})
	if err != nil {
		return err
	}
	if !created && claim.TextHash != hash {
		return protocol.Errorf(protocol.CodeInvalidField, "", "clientId %s was already used for a different text", r.ClientID)
	}
	seq := claim.Seq
	if seq == 0 {
		taken, err := h.store.NextSeq(ctx, r.Channel)
		if err != nil {
			return err
		}
		if seq, err = h.store.SetClaimSeq(ctx, key, taken); err != nil {
			return err
		}
	}
	if !claim.Delivered {
		msg := chat.Message{
			Channel:   r.Channel,
			Seq:       seq,
			Identity:  rq.Identity,
			Text:      r.Text,
			ClientID:  r.ClientID,
			SentAt:    claim.SentAt,
			ExpiresAt: claim.SentAt.Add(h.retention),
		}
		if seq, err = h.put(ctx, key, msg); err != nil {
			return err
		}
		msg.Seq = seq
		if created {
			h.meter.Emit(metrics.Value{Name: contract.MetricMessagesAccepted, Unit: metrics.Count, Value: 1})
		}
		frame, err := encodeFrame(protocol.Message{Channel: r.Channel, Entry: entryOf(msg)})
		if err != nil {
			return err
		}
		if _, err := h.broadcaster.Broadcast(ctx, rq.Budget, r.Channel, frame); err != nil {
			// Stored but maybe not delivered: no ack, so the client retries
			// and the retry fans out again.
			return fmt.Errorf("send seq %d: %w", seq, err)
		}
		if err := h.store.MarkDelivered(ctx, key); err != nil {
			// Delivered already; a retry would deliver twice, which clients
			// tolerate. Not worth failing the request.
			h.log.LogAttrs(ctx, slog.LevelWarn, "mark delivered failed", slog.String("channel", r.Channel), slog.Int64("seq", seq), logging.Err(err))
		}
	}
	return h.replier.reply(ctx, rq, protocol.Ack{Channel: r.Channel, ClientID: r.ClientID, Seq: seq})
}

// maxRenumber bounds how often one send is renumbered: each time its seq
// was settled as never used before it was stored, which takes a send slower
// than history's grace period.
const maxRenumber = 5

// put stores msg under its seq or, if that seq was settled as never used,
// under a new one bound to the claim. It returns the seq stored under.
func (h *sendAction) put(ctx context.Context, key chat.ClaimKey, msg chat.Message) (int64, error) {
	for range maxRenumber {
		err := h.store.PutMessage(ctx, msg)
		if !errors.Is(err, chat.ErrConflict) {
			return msg.Seq, err
		}
		taken, err := h.store.NextSeq(ctx, msg.Channel)
		if err != nil {
			return 0, err
		}
		from := msg.Seq
		if msg.Seq, err = h.store.RebindClaimSeq(ctx, key, from, taken); err != nil {
			return 0, err
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "send renumbered", slog.String("channel", msg.Channel),
			slog.Int64("from", from), slog.Int64("seq", msg.Seq))
	}
	return 0, fmt.Errorf("send: seq settled as unused %d times in a row", maxRenumber)
}

func entryOf(m chat.Message) protocol.Entry {
	return protocol.Entry{
		Seq:      m.Seq,
		UserID:   m.UserID,
		UserName: m.UserName,
		Text:     m.Text,
		ClientID: m.ClientID,
		SentAt:   m.SentAt.UTC(),
	}
}
