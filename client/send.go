package client

import (
	"github.com/wschat/wschat/wire"

	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// entry is one request handed to Send (or to a lifecycle call: Edit,
// Delete, React, Unreact, Reply), until it is acked or fails. req carries
// the entry's clientId, reused on every attempt.
type entry struct {
	channel, text, clientID string
	req                     wire.Request
	attempted               bool
	seq                     int64
	err                     error
	done                    chan struct{}
}

// outbox holds unacknowledged sends in order. One goroutine sends them one
// at a time, each waiting for its ack: that keeps this client's messages in
// seq order (protocol.md, Ordering) and makes an error frame, which names
// only the action, belong to exactly one send.
type outbox struct {
	c      *Client
	mu     sync.Mutex
	q      []*entry
	err    error
	signal chan struct{}
	prefix string
	n      atomic.Int64
}

func newOutbox(c *Client) *outbox {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &outbox{c: c, signal: make(chan struct{}, 1), prefix: "go-" + hex.EncodeToString(b) + "-"}
}

// Send sends text to a joined channel and returns its seq once the server
// has acknowledged it. Retries keep the clientId, so the message is stored
// at most once. If ctx ends first: a message never sent is withdrawn and
// ctx's error returned; one already sent stays in the outbox and is retried
// until acked, and the error is ErrOutcomeUnknown.
func (c *Client) Send(ctx context.Context, channel, text string) (int64, error) {
	if err := validChannel(channel); err != nil {
		return 0, err
	}
	if err := validText(text); err != nil {
		return 0, err
	}
	clientID := c.newClientID()
	return c.enqueue(ctx, &entry{channel: channel, text: text, clientID: clientID,
		req: &wire.Send{Channel: channel, Text: text, ClientID: clientID, Echo: &noEcho}})
}

// noEcho asks the server for one frame per send (wire.Send.Echo): the ack,
// from which ownMessage makes the message.
var noEcho = false

// ownMessage makes the message of an ack that carries it (a send made with
// echo false) from the outbox entry it acknowledges, and hands it to the
// channel's subscription exactly as if the server had posted it: the
// sequencer puts it in seq order and drops it if the seq was already
// delivered (a retry's second ack, or history that got there first).
func (c *Client) ownMessage(f *frame) {
	var text string
	found := false
	c.out.mu.Lock()
	for _, e := range c.out.q {
		if e.clientID == f.ClientID && e.channel == f.Channel {
			text, found = e.text, true
			break
		}
	}
	c.out.mu.Unlock()
	s := c.sub(f.Channel)
	if !found || s == nil {
		return
	}
	if f.Text != "" {
		text = f.Text // a before-send hook replaced it (wire.Ack)
	}
	m := frame{Type: "message", Channel: f.Channel}
	m.Entry = wire.Entry{Seq: f.Seq, UserID: f.UserID, UserName: f.UserName, Text: text, ClientID: f.ClientID, SentAt: f.SentAt}
	s.liveEvent(liveMessage(&m))
}

func (c *Client) newClientID() string {
	return c.out.prefix + strconv.FormatInt(c.out.n.Add(1), 10)
}

// enqueue puts e in the outbox and waits for its ack (see Send).
func (c *Client) enqueue(ctx context.Context, e *entry) (int64, error) {
	c.mu.Lock()
	err, joined := c.err, c.subs[e.channel] != nil
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if !joined {
		return 0, fmt.Errorf("%w: %s", ErrNotJoined, e.channel)
	}
	e.done = make(chan struct{})
	if err := c.out.add(e); err != nil {
		return 0, err
	}
	select {
	case <-e.done:
		return e.seq, e.err
	case <-ctx.Done():
		if c.out.withdraw(e) {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
}

func (o *outbox) add(e *entry) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	if len(o.q) >= o.c.opts.OutboxSize {
		return fmt.Errorf("%w: %d unacknowledged", ErrOutboxFull, len(o.q))
	}
	o.q = append(o.q, e)
	select {
	case o.signal <- struct{}{}:
	default:
	}
	return nil
}

// withdraw removes e if it was never sent.
func (o *outbox) withdraw(e *entry) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e.attempted {
		return false
	}
	o.remove(e)
	return true
}

func (o *outbox) remove(e *entry) {
	for i, x := range o.q {
		if x == e {
			o.q = append(o.q[:i], o.q[i+1:]...)
			return
		}
	}
}

func (o *outbox) finish(e *entry, seq int64, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-e.done:
		return
	default:
	}
	o.remove(e)
	e.seq, e.err = seq, err
	close(e.done)
}

// fail ends every pending send with err; later adds fail too.
// It closes under o.mu, like finish, so the two never both close an entry.
func (o *outbox) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.q {
		e.err = err
		close(e.done)
	}
	o.q, o.err = nil, err
}

func (o *outbox) head() *entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.q) == 0 {
		return nil
	}
	return o.q[0]
}

func (o *outbox) run() {
	defer o.c.wg.Done()
	for {
		e := o.head()
		if e == nil {
			select {
			case <-o.signal:
				continue
			case <-o.c.ctx.Done():
				return
			}
		}
		if !o.deliver(e) {
			return
		}
	}
}

// deliver sends e until it is acked or fails; false means the client stopped.
func (o *outbox) deliver(e *entry) bool {
	c := o.c
	for attempts := 0; ; {
		k, err := c.waitActive(c.ctx)
		if err != nil {
			return false // stop has failed every entry
		}
		if c.sub(e.channel) == nil {
			o.finish(e, 0, fmt.Errorf("%w: %s", ErrNotJoined, e.channel))
			return true
		}
		o.mu.Lock()
		e.attempted = true
		o.mu.Unlock()
		f, err := k.call(c.ctx, e.req)
		if err == nil {
			o.finish(e, f.Seq, nil)
			return true
		}
		if c.ctx.Err() != nil {
			return false
		}
		var se *ServerError
		if errors.As(err, &se) && !se.retryable() {
			o.finish(e, 0, fmt.Errorf("%s in %s: %w", e.req.Action(), e.channel, err))
			return true
		}
		if se != nil || errors.Is(err, errTimeout) {
			attempts++
			c.sendRetries.Add(1)
			if attempts >= c.opts.MaxSendAttempts {
				o.finish(e, 0, fmt.Errorf("%w after %d attempts: %w", ErrSendFailed, attempts, err))
				return true
			}
		}
		// A lost connection is not the message's fault: wait for the
		// reconnect without spending an attempt.
		if !c.sleep(c.backoff(attempts)) {
			return false
		}
	}
}

// Members returns one page of channel's members; cursor is "" for the
// first page, then the previous page's Next.
func (c *Client) Members(ctx context.Context, channel, cursor string) (MembersPage, error) {
	if c.sub(channel) == nil {
		if err := c.Err(); err != nil {
			return MembersPage{}, err
		}
		return MembersPage{}, fmt.Errorf("%w: %s", ErrNotJoined, channel)
	}
	for attempt := 0; ; attempt++ {
		k, err := c.waitActive(ctx)
		if err != nil {
			return MembersPage{}, err
		}
		f, err := k.call(ctx, &wire.Members{Channel: channel, Cursor: cursor})
		if err == nil {
			p := MembersPage{Next: f.membersNext()}
			for _, m := range f.members() {
				p.Members = append(p.Members, Member{UserID: m.UserID, UserName: m.UserName, JoinedAt: m.JoinedAt})
			}
			return p, nil
		}
		var se *ServerError
		if ctx.Err() != nil || (errors.As(err, &se) && !se.retryable()) || attempt+1 >= c.opts.MaxSendAttempts {
			return MembersPage{}, fmt.Errorf("members %s: %w", channel, err)
		}
		if err := sleepCtx(ctx, c.backoff(attempt)); err != nil {
			return MembersPage{}, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
