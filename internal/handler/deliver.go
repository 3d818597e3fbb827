package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/protocol"
)

// MessageStore is what storing and fanning out one message writes: the
// claim, the channel's counter, the history item.
type MessageStore interface {
	Claim(ctx context.Context, c chat.Claim) (stored chat.Claim, created bool, err error)
	NextSeq(ctx context.Context, channel string) (int64, error)
	SetClaimSeq(ctx context.Context, k chat.ClaimKey, seq int64) (int64, error)
	PutMessage(ctx context.Context, m chat.Message) error
	RebindClaimSeq(ctx context.Context, k chat.ClaimKey, from, to int64) (int64, error)
	MarkDelivered(ctx context.Context, k chat.ClaimKey) error
}

// Post is one message to store and fan out, from a WebSocket send or from
// a backend's publish.
type Post struct {
	Channel  string
	Text     string
	ClientID string
	// Caller identifies who retries: a claim is per (channel, caller,
	// clientId). For a WebSocket user it is the user id; for a backend its
	// IAM principal, which is never shown to clients.
	Caller   string
	Identity chat.Identity // shown to clients
	From     string        // chat.FromServer for a backend's message, else ""
	Now      time.Time
	Budget   *chat.Budget
}

// Deliverer stores a message in its channel's history under the next seq
// and fans it out to the members: the steps shared by the WebSocket send
// action and the HTTP publish route, so both give the same guarantees.
type Deliverer struct {
	Store       MessageStore
	Broadcaster chat.Broadcaster
	Retention   time.Duration
	Log         *slog.Logger
	Meter       Meter
}

// Deliver runs steps 1–5 of the send action (see sendAction) and returns
// the seq. A retry with the same (channel, caller, clientId) and text gets
// the same seq and stores nothing new; with a different text it is an
// invalid_field *protocol.Error. An error after the history write means
// stored but maybe not delivered: the caller must not acknowledge, so the
// client retries and the retry fans out again.
func (d *Deliverer) Deliver(ctx context.Context, p Post) (int64, error) {
	key := chat.ClaimKey{Channel: p.Channel, UserID: p.Caller, ClientID: p.ClientID}
	hash := chat.TextHash(p.Text)
	claim, created, err := d.Store.Claim(ctx, chat.Claim{
		ClaimKey:  key,
		TextHash:  hash,
		SentAt:    p.Now,
		ExpiresAt: p.Now.Add(d.Retention),
	})
	if err != nil {
		return 0, err
	}
	if !created && claim.TextHash != hash {
		return 0, protocol.Errorf(protocol.CodeInvalidField, "", "clientId %s was already used for a different text", p.ClientID)
	}
	seq := claim.Seq
	if seq == 0 {
		taken, err := d.Store.NextSeq(ctx, p.Channel)
		if err != nil {
			return 0, err
		}
		if seq, err = d.Store.SetClaimSeq(ctx, key, taken); err != nil {
			return 0, err
		}
	}
	if claim.Delivered {
		return seq, nil
	}
	msg := chat.Message{
		Channel:   p.Channel,
		Seq:       seq,
		Identity:  p.Identity,
		From:      p.From,
		Text:      p.Text,
		ClientID:  p.ClientID,
		SentAt:    claim.SentAt,
		ExpiresAt: claim.SentAt.Add(d.Retention),
	}
	if seq, err = d.put(ctx, key, msg); err != nil {
		return 0, err
	}
	msg.Seq = seq
	if created && d.Meter != nil {
		d.Meter.Record(ctx, metrics.Value{Name: contract.MetricMessagesAccepted, Unit: metrics.Count, Value: 1})
	}
	frame, err := encodeFrame(protocol.Message{Channel: p.Channel, Entry: entryOf(msg)})
	if err != nil {
		return 0, err
	}
	// The broadcast's line names the seq it carried.
	if _, err := d.Broadcaster.Broadcast(logging.WithAttrs(ctx, slog.Int64("seq", seq)), p.Budget, p.Channel, frame); err != nil {
		return 0, fmt.Errorf("send seq %d: %w", seq, err)
	}
	if err := d.Store.MarkDelivered(ctx, key); err != nil {
		// Delivered already; a retry would deliver twice, which clients
		// tolerate. Not worth failing the request.
		d.Log.LogAttrs(ctx, slog.LevelWarn, "mark delivered failed", slog.String("channel", p.Channel), slog.Int64("seq", seq), logging.Err(err))
	}
	return seq, nil
}

// maxRenumber bounds how often one send is renumbered: each time its seq
// was settled as never used before it was stored, which takes a send slower
// than history's grace period.
const maxRenumber = 5

// put stores msg under its seq; a slot that history settled with a
// tombstone meanwhile (chat.ErrConflict) makes it take a new seq, rebind
// the claim and try there.
func (d *Deliverer) put(ctx context.Context, key chat.ClaimKey, msg chat.Message) (int64, error) {
	for range maxRenumber {
		err := d.Store.PutMessage(ctx, msg)
		if !errors.Is(err, chat.ErrConflict) {
			return msg.Seq, err
		}
		taken, err := d.Store.NextSeq(ctx, msg.Channel)
		if err != nil {
			return 0, err
		}
		from := msg.Seq
		if msg.Seq, err = d.Store.RebindClaimSeq(ctx, key, from, taken); err != nil {
			return 0, err
		}
		d.Log.LogAttrs(ctx, slog.LevelInfo, "send renumbered", slog.String("channel", msg.Channel),
			slog.Int64("from", from), slog.Int64("seq", msg.Seq))
	}
	return 0, fmt.Errorf("send: seq settled as unused %d times in a row", maxRenumber)
}

// EncodeEvent is the JSON frame of a server event, for handlers outside
// this package that post events (the publish function's user notice).
func EncodeEvent(e protocol.Event) ([]byte, error) { return encodeFrame(e) }
