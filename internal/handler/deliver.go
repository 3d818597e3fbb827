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
	// SetClaimSeq binds a seq to a claim made before claims carried
	// their seq (a retry of a send stored by the previous version).
	SetClaimSeq(ctx context.Context, k chat.ClaimKey, seq int64) (int64, error)
	PutMessage(ctx context.Context, m chat.Message) error
	RebindClaimSeq(ctx context.Context, k chat.ClaimKey, from, to int64) (int64, error)
	FindClaim(ctx context.Context, k chat.ClaimKey) (chat.Claim, error)
	MarkDelivered(ctx context.Context, k chat.ClaimKey) error
	// Discard settles a seq that will never hold a message at once.
	Discard(ctx context.Context, channel string, seq int64, ttl time.Duration) error
}

// Post is one message to store and fan out, from a WebSocket send or from
// a backend's publish.
type Post struct {
	Channel string
	Text    string // what is stored
	// SentText is the text as the sender sent it when the before-send hook
	// replaced it ("" means Text): a retry is recognised by it.
	SentText string
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
	// Size is the channel's size as the caller read it just before (a
	// send's CheckSend), nil when it did not: the channel's rate is
	// charged by it and the broadcast does not read it again.
	Size *chat.ChannelSize
	// Except is a connection the message is not posted to: the sender's,
	// when its client takes the ack for the message (wire.Send.Echo).
	Except string
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
func (d *Deliverer) takeSeq(ctx context.Context, channel string, size *chat.ChannelSize) (int64, error) {
	taken, ok, err := d.Store.TakeSeq(ctx, channel, d.cost(channel, size), ChannelBurst)
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

// cost is what a send to channel costs of its delivery rate: by size when
// the caller read it, else by the last broadcast's.
func (d *Deliverer) cost(channel string, size *chat.ChannelSize) time.Duration {
	if d.ChannelRate <= 0 {
		return 0 // the store's minimum applies
	}
	n := d.sizes.get(channel)
	if size != nil {
		n = max(size.Members, 1)
	}
	return time.Duration(float64(n) / d.ChannelRate * float64(time.Second))
}

// clientText is the text a client sent: sent when a before-send hook
// replaced it, stored otherwise. A claim is keyed by it, so a retry is
// known by what its sender sent, not by what the hook made of it.
func clientText(sent, stored string) string {
	if sent != "" {
		return sent
	}
	return stored
}

// Deliver runs steps 1–4 of the send action (see sendAction) and returns
// the message as stored (its seq and sentAt are what the ack carries). A
// retry with the same (channel, caller, clientId) and text gets the same
// seq and stores nothing new; with a different text it is an invalid_field
// *protocol.Error. An error after the history write means stored but maybe
// not delivered: the caller must not acknowledge, so the client retries and
// the retry fans out again.
func (d *Deliverer) Deliver(ctx context.Context, p Post) (chat.Message, error) {
	if p.ReplyTo != 0 {
		if d.Lifecycle == nil {
			return chat.Message{}, errors.New("deliver: a reply needs Deliverer.Lifecycle")
		}
		return d.deliverReply(ctx, p)
	}
	key := chat.ClaimKey{Channel: p.Channel, UserID: p.Caller, ClientID: p.ClientID}
	claim, created, seq, err := d.claimSeq(ctx, key, chat.TextHash(clientText(p.SentText, p.Text)), p.Now, p.Size)
	if err != nil {
		if perr := (*protocol.Error)(nil); errors.As(err, &perr) && perr.Code == protocol.CodeInvalidField {
			perr.Message = fmt.Sprintf("clientId %s was already used for a different text", p.ClientID)
		}
		return chat.Message{}, err
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
	if claim.Delivered {
		return msg, nil // marked by the version before issue #23
	}
	if msg.Seq, err = d.put(ctx, key, msg); err != nil {
		return chat.Message{}, err
	}
	if created && d.Meter != nil {
		d.Meter.Record(ctx, metrics.Value{Name: contract.MetricMessagesAccepted, Unit: metrics.Count, Value: 1})
	}
	out := msg
	if !created && d.Lifecycle != nil {
		// A retry: the message may have been edited or deleted since the
		// first attempt stored it. Fan out what it is now, never the text
		// the request carries again.
		if cur, err := d.Lifecycle.GetMessage(ctx, p.Channel, msg.Seq); err == nil {
			out = cur
		}
	}
	err = d.fanOut(ctx, key, p.Budget, p.Channel, msg.Seq, chat.Audience{Except: p.Except, Size: p.Size},
		protocol.Message{Channel: p.Channel, Entry: entryOf(out)})
	return msg, err
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
