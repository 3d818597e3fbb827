package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// TakeSeq takes the next seq of a send that costs cost of the
	// channel's delivery rate, unless the channel is more than burst ahead
	// of it (ok false).
	TakeSeq(ctx context.Context, channel string, cost, burst time.Duration) (seq int64, ok bool, err error)
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
	// ReplyTo makes the message a reply to that message (Deliverer.
	// Lifecycle must be set); Parent is the parent as the action read it.
	ReplyTo int64
	Parent  *chat.Message
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
	// ChannelRate is Config.ChannelRate: deliveries per second per
	// channel. A send is charged one delivery per member, counted by the
	// last broadcast to the channel that this process made (a channel it
	// has not broadcast to yet counts as one member, once).
	ChannelRate float64
	sizes       channelSizes
	// Lifecycle, when set, lets the Deliverer store changes and replies
	// (change.go) and fan out a retried message in its current state.
	Lifecycle LifecycleStore
}

// channelSizes remembers each channel's member count as the last
// broadcast read it. Bounded: when full it starts over.
type channelSizes struct {
	mu sync.Mutex
	m  map[string]int64
}

const channelSizesMax = 10_000

func (c *channelSizes) get(ch string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.m[ch], 1)
}

func (c *channelSizes) put(ch string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= channelSizesMax {
		c.m = map[string]int64{}
	}
	c.m[ch] = n
}

// takeSeq takes the channel's next seq for a send or a change, charged to
// the channel's delivery rate (every one of them is fanned out to every
// member); over the rate it is a rate_limited *protocol.Error.
func (d *Deliverer) takeSeq(ctx context.Context, channel string) (int64, error) {
	taken, ok, err := d.Store.TakeSeq(ctx, channel, d.cost(channel), ChannelBurst)
	if err != nil {
		return 0, err
	}
	if !ok {
		if d.Meter != nil {
			d.Meter.Record(ctx, metrics.Value{Name: contract.MetricRateLimited, Unit: metrics.Count, Value: 1})
		}
		return 0, protocol.Errorf(protocol.CodeRateLimited, "",
			"channel %s is sending faster than its rate (%g deliveries a second, one per member); retry in a moment with the same clientId", channel, d.ChannelRate)
	}
	return taken, nil
}

// cost is what a send to channel costs of its delivery rate.
func (d *Deliverer) cost(channel string) time.Duration {
	if d.ChannelRate <= 0 {
		return 0 // the store's minimum applies
	}
	return time.Duration(float64(d.sizes.get(channel)) / d.ChannelRate * float64(time.Second))
}

// Deliver runs steps 1–5 of the send action (see sendAction) and returns
// the seq. A retry with the same (channel, caller, clientId) and text gets
// the same seq and stores nothing new; with a different text it is an
// invalid_field *protocol.Error. An error after the history write means
// stored but maybe not delivered: the caller must not acknowledge, so the
// client retries and the retry fans out again.
func (d *Deliverer) Deliver(ctx context.Context, p Post) (int64, error) {
	if p.ReplyTo != 0 {
		if d.Lifecycle == nil {
			return 0, errors.New("deliver: a reply needs Deliverer.Lifecycle")
		}
		return d.deliverReply(ctx, p)
	}
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
		// The channel's rate is checked here, after the claim, so that a
		// retry of a send that already has its seq is never refused.
		taken, err := d.takeSeq(ctx, p.Channel)
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
	if !created && d.Lifecycle != nil {
		// A retry: the message may have been edited or deleted since the
		// first attempt stored it. Fan out what it is now, never the text
		// the request carries again.
		if cur, err := d.Lifecycle.GetMessage(ctx, p.Channel, seq); err == nil {
			msg = cur
		}
	}
	frame, err := encodeFrame(protocol.Message{Channel: p.Channel, Entry: entryOf(msg)})
	if err != nil {
		return 0, err
	}
	// The broadcast's line names the seq it carried.
	stats, err := d.Broadcaster.Broadcast(logging.WithAttrs(ctx, slog.Int64("seq", seq)), p.Budget, p.Channel, frame)
	if size := max(stats.Size, int64(stats.Members)); size > 0 {
		d.sizes.put(p.Channel, size)
	}
	if err != nil {
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
