package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wschat/wschat/wire"
)

// The message lifecycle (docs/protocol.md): edits, deletes and reactions
// are updates in the channel's stream, each under its own seq, so they
// reach the application exactly once and in order like messages, and a
// subscription folds them into each message's current state
// (Subscription.Message). Replies are messages that name a parent. Typing
// and read state are signals beside the stream.

// Lifecycle limits and timings: the wire contract's.
const (
	MaxEmojiBytes = wire.MaxEmojiBytes
	// TypingEvery is how often Typing sends while called continuously;
	// TypingExpiry how long a typing indicator lasts without a new one.
	TypingEvery  = wire.TypingEvery
	TypingExpiry = wire.TypingExpiry
)

// Update actions.
const (
	UpdateEdit    = wire.UpdateEdit
	UpdateDelete  = wire.UpdateDelete
	UpdateReact   = wire.UpdateReact
	UpdateUnreact = wire.UpdateUnreact
)

// Reaction is one emoji on a message: how many users reacted with it and
// whether you did (Mine, by your user id: every device agrees).
type Reaction struct {
	Emoji string
	Count int
	Mine  bool
}

// Update is one change to message Target: Action (UpdateEdit, ...) by
// UserID, stored as Seq; State is the target's state after it, as the
// server sent it (the subscription folds it; read the result with
// Subscription.Message).
type Update struct {
	Channel  string
	Seq      int64
	Action   string
	Target   int64
	UserID   string
	UserName string
	Emoji    string
	ClientID string
	At       time.Time
	State    Message
	// personal: State's Mine flags are the server's for this user (a
	// history answer); a broadcast carries none.
	personal bool
}

// Typist is a member who is typing, until Until.
type Typist struct {
	Channel  string
	UserID   string
	UserName string
	Until    time.Time
	// since is when the server saw the signal: only a message of the
	// typist sent at or after it ends the indicator (one sent before,
	// delivered late by a catch-up, does not).
	since time.Time
}

// ReadReceipt is a user's last-read seq of a channel.
type ReadReceipt struct {
	Channel  string
	UserID   string
	UserName string
	Seq      int64
}

// ChannelInfo is one channel of the user's channel list (Channels).
type ChannelInfo struct {
	Channel  string
	LastSeq  int64
	LastRead int64
	// Unread counts the messages above LastRead that are not yours and
	// not deleted; with UnreadMore there are more than that.
	Unread     int
	UnreadMore bool
	Last       *Message // the last message, its text cut for a preview
	// Private: a private channel or direct message whose member list names
	// you (listed whether you joined it or not). PeerID and PeerName name
	// the other user of a direct message (the name as that user last
	// opened it, its id until then); empty otherwise.
	Private          bool
	PeerID, PeerName string
}

// ThreadPage is one page of a thread: the replies, the parent's current
// state, and Next to pass as after for the next page when More.
type ThreadPage struct {
	Parent  Message
	Replies []Message
	More    bool
	Next    int64
}

// Edit replaces the text of your message seq in channel; it returns the
// update's seq once acknowledged. Like Send it is retried with one
// clientId until acknowledged, in order with your other requests.
// Another user's message is refused with a *ServerError "forbidden", a
// deleted one with "invalid_field".
func (c *Client) Edit(ctx context.Context, channel string, seq int64, text string) (int64, error) {
	if err := validText(text); err != nil {
		return 0, err
	}
	id := c.newClientID()
	return c.lifecycle(ctx, channel, seq, &wire.Edit{Channel: channel, Seq: seq, Text: text, ClientID: id}, id)
}

// Delete erases your message seq in channel (it stays as a tombstone).
// The seq returned is 0 when it was already deleted.
func (c *Client) Delete(ctx context.Context, channel string, seq int64) (int64, error) {
	id := c.newClientID()
	return c.lifecycle(ctx, channel, seq, &wire.Delete{Channel: channel, Seq: seq, ClientID: id}, id)
}

// React adds emoji (one Unicode emoji or a :shortcode:) to message seq.
// The seq returned is 0 when you had already reacted with it.
func (c *Client) React(ctx context.Context, channel string, seq int64, emoji string) (int64, error) {
	if err := validEmoji(emoji); err != nil {
		return 0, err
	}
	id := c.newClientID()
	return c.lifecycle(ctx, channel, seq, &wire.React{Channel: channel, Seq: seq, Emoji: emoji, ClientID: id}, id)
}

// Unreact removes your emoji from message seq; 0 when it was not there.
func (c *Client) Unreact(ctx context.Context, channel string, seq int64, emoji string) (int64, error) {
	if err := validEmoji(emoji); err != nil {
		return 0, err
	}
	id := c.newClientID()
	return c.lifecycle(ctx, channel, seq, &wire.Unreact{Channel: channel, Seq: seq, Emoji: emoji, ClientID: id}, id)
}

// Reply sends text as a reply to message parent (a message that is not
// itself a reply) and returns its seq, as Send does.
func (c *Client) Reply(ctx context.Context, channel string, parent int64, text string) (int64, error) {
	if err := validText(text); err != nil {
		return 0, err
	}
	id := c.newClientID()
	return c.lifecycle(ctx, channel, parent, &wire.Send{Channel: channel, Text: text, ClientID: id, ReplyTo: parent}, id)
}

func (c *Client) lifecycle(ctx context.Context, channel string, seq int64, req wire.Request, clientID string) (int64, error) {
	if err := validChannel(channel); err != nil {
		return 0, err
	}
	if seq < 1 || seq > wire.MaxSeq {
		return 0, fmt.Errorf("%w: seq %d", ErrInvalid, seq)
	}
	return c.enqueue(ctx, &entry{channel: channel, clientID: clientID, req: req})
}

func validEmoji(e string) error {
	if len(e) > MaxEmojiBytes {
		return fmt.Errorf("%w: emoji of %d bytes, at most %d", ErrInvalid, len(e), MaxEmojiBytes)
	}
	if !wire.ValidEmoji(e) {
		return fmt.Errorf("%w: %q is neither one emoji nor a :shortcode: name", ErrInvalid, e)
	}
	return nil
}

// Typing tells channel's members that you are typing. Call it on every
// keystroke: it sends at most once per TypingEvery per channel (receivers
// show the indicator for TypingExpiry), never blocks, and drops the signal
// while the client is not connected.
func (c *Client) Typing(channel string) {
	if validChannel(channel) != nil || c.sub(channel) == nil {
		return
	}
	now := c.opts.Now()
	c.mu.Lock()
	if c.typed == nil {
		c.typed = map[string]time.Time{}
	}
	k, last := c.active, c.typed[channel]
	if k == nil || now.Sub(last) < TypingEvery {
		c.mu.Unlock()
		return
	}
	c.typed[channel] = now
	c.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.AckTimeout)
		defer cancel()
		_ = k.write(ctx, &wire.Typing{Channel: channel}) // answered only by an error, which nothing waits for
	}()
}

// MarkRead records that you have read channel up to seq, for all your
// devices (their unread counts follow) and as a read receipt to the
// members of small channels. A seq at or below what is already recorded
// costs nothing. It returns once the server stored it.
func (c *Client) MarkRead(ctx context.Context, channel string, seq int64) error {
	s := c.sub(channel)
	if s == nil {
		return fmt.Errorf("%w: %s", ErrNotJoined, channel)
	}
	if seq <= s.LastRead() {
		return nil
	}
	f, err := c.request(ctx, &wire.Read{Channel: channel, Seq: seq})
	if err != nil {
		return fmt.Errorf("read %s: %w", channel, err)
	}
	s.fold(Event{Type: EventRead, Read: ReadReceipt{Channel: channel, UserID: f.UserID, UserName: f.UserName, Seq: f.Seq}})
	return nil
}

// Channels returns your channel list: every public channel you joined on
// any device and did not leave, and every private channel and direct
// message whose member list names you, with its unread count and last
// message; a direct message names the other user (PeerID, PeerName).
func (c *Client) Channels(ctx context.Context) ([]ChannelInfo, error) {
	f, err := c.request(ctx, &wire.Channels{})
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	out := make([]ChannelInfo, 0, len(f.Channels))
	for _, ch := range f.Channels {
		info := ChannelInfo{Channel: ch.Channel, LastSeq: ch.LastSeq, LastRead: ch.LastRead, Unread: ch.Unread, UnreadMore: ch.UnreadMore,
			Private: ch.Private, PeerID: ch.PeerID, PeerName: ch.PeerName}
		if ch.Last != nil {
			m := message(ch.Channel, *ch.Last)
			info.Last = &m
		}
		out = append(out, info)
	}
	return out, nil
}

// Thread returns one page of the replies to message parent of a joined
// channel, after reply seq after (0 for the first page).
func (c *Client) Thread(ctx context.Context, channel string, parent, after int64) (ThreadPage, error) {
	if c.sub(channel) == nil {
		return ThreadPage{}, fmt.Errorf("%w: %s", ErrNotJoined, channel)
	}
	f, err := c.request(ctx, &wire.History{Channel: channel, Thread: parent, After: after, Limit: c.opts.HistoryLimit})
	if err != nil {
		return ThreadPage{}, fmt.Errorf("thread %d of %s: %w", parent, channel, err)
	}
	p := ThreadPage{More: f.More, Next: f.historyNext()}
	for _, e := range f.States {
		if e.Seq == parent {
			p.Parent = message(channel, e)
		}
	}
	for _, e := range f.Messages {
		p.Replies = append(p.Replies, message(channel, e))
	}
	return p, nil
}

// UserID is your user id as the server knows it (learned from your first
// join; "" before).
func (c *Client) UserID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userID
}

// request makes one request that needs no clientId, retried (with
// backoff, a bounded number of times) on a timeout, a lost connection or
// a retryable error.
func (c *Client) request(ctx context.Context, r wire.Request) (*frame, error) {
	for attempt := 0; ; attempt++ {
		k, err := c.waitActive(ctx)
		if err != nil {
			return nil, err
		}
		f, err := k.call(ctx, r)
		if err == nil {
			return f, nil
		}
		var se *ServerError
		if ctx.Err() != nil || (errors.As(err, &se) && !se.retryable()) || attempt+1 >= c.opts.MaxSendAttempts {
			return nil, err
		}
		if err := sleepCtx(ctx, c.backoff(attempt)); err != nil {
			return nil, err
		}
	}
}

// handleLifecycle routes the lifecycle's frames (called by handleFrame):
// updates into the stream, typing and read to the subscription, answers
// to the request waiting for them.
func (c *Client) handleLifecycle(k *conn, f *frame) {
	s := c.sub(f.Channel)
	switch f.Type {
	case wire.TypeUpdate:
		if s != nil {
			s.liveUpdate(updateOf(f))
		}
	case wire.TypeTyping:
		if s != nil {
			s.fold(Event{Type: EventTyping, Typing: Typist{Channel: f.Channel, UserID: f.UserID, UserName: f.UserName,
				Until: c.opts.Now().Add(time.Duration(f.ExpiresIn) * time.Millisecond), since: f.At}})
			s.armTyping()
		}
	case wire.TypeRead:
		if f.UserID == c.UserID() {
			k.resolve(wire.ActionRead, f)
		}
		if s != nil {
			s.fold(Event{Type: EventRead, Read: ReadReceipt{Channel: f.Channel, UserID: f.UserID, UserName: f.UserName, Seq: f.Seq}})
		}
	case wire.TypeChannels:
		k.resolve(wire.ActionChannels, f)
	case wire.TypeModeration:
		if s != nil {
			s.liveEvent(Event{Type: EventModeration, Moderation: f.moderation()})
		}
	}
}

// updateOf reads a live update frame.
func updateOf(f *frame) Update {
	u := Update{Channel: f.Channel, Seq: f.Seq, Action: f.Action, Target: f.Target, UserID: f.UserID, UserName: f.UserName,
		Emoji: f.Emoji, ClientID: f.ClientID, At: f.At}
	var e wire.Entry
	if json.Unmarshal(f.Msg, &e) == nil {
		u.State = message(f.Channel, e)
	}
	return u
}

// ackAction is the action an ack answers: a lifecycle ack names it; a
// send's has none.
func ackAction(f *frame) string {
	if f.Action != "" {
		return f.Action
	}
	return wire.ActionSend
}

// liveMessage reads a live message frame, with a reply's parent state.
func liveMessage(f *frame) Event {
	e := Event{Type: EventMessage, Message: message(f.Channel, f.Entry)}
	if f.Parent != nil {
		p := message(f.Channel, *f.Parent)
		e.parent = &p
	}
	return e
}
