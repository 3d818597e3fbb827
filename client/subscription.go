package client

import (
	"github.com/wschat/wschat/wire"

	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Subscription is one joined channel. Its Events stream is strictly
// increasing in message seq, each message at most once, with presence
// events and discontinuities in between. The stream is closed when the
// subscription ends (Leave, Close, or a terminal error; see Err). Events
// wait in an unbounded queue until read, so a reader that stops reading
// holds memory, never loses events.
type Subscription struct {
	c       *Client
	channel string
	ctx     context.Context
	cancel  context.CancelFunc

	mu       sync.Mutex
	seq      *sequencer
	model    *model
	typingT  *time.Timer
	queue    []Event
	gapTimer *time.Timer
	ended    bool
	err      error

	signal  chan struct{}
	kick    chan struct{}
	done    chan struct{}
	events  chan Event
	catchMu sync.Mutex
}

// JoinOption configures Join.
type JoinOption func(*Subscription)

// From makes the stream start after seq: From(0) replays the whole retained
// history; pass the Last of an earlier subscription to resume without loss.
// Without it the stream starts at the channel's current seq (on a server
// without lastSeq in `joined`, at the first message that arrives).
func From(seq int64) JoinOption {
	return func(s *Subscription) { s.seq.start(seq) }
}

// Join joins channel and returns its subscription. It waits for a
// connection (bounded by ctx). A channel can be joined once per client.
func (c *Client) Join(ctx context.Context, channel string, opts ...JoinOption) (*Subscription, error) {
	if err := validChannel(channel); err != nil {
		return nil, err
	}
	s := &Subscription{c: c, channel: channel, seq: newSequencer(c.opts.ReorderWindow), model: newModel(c.opts.ModelSize),
		signal: make(chan struct{}, 1), kick: make(chan struct{}, 1), done: make(chan struct{}),
		events: make(chan Event)}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	for _, o := range opts {
		o(s)
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		s.cancel()
		return nil, c.err
	}
	if c.subs[channel] != nil {
		c.mu.Unlock()
		s.cancel()
		return nil, fmt.Errorf("%w: %s", ErrAlreadyJoined, channel)
	}
	c.subs[channel] = s
	c.wg.Add(2)
	c.mu.Unlock()
	go s.pump()
	go s.worker()
	for {
		k, err := c.waitActive(ctx)
		if err == nil {
			err = s.rejoin(ctx, k)
		}
		var se *ServerError
		if err == nil {
			if err := s.catchUp(ctx, k); err != nil {
				s.kickNow() // the worker finishes it
			}
			return s, nil
		}
		if ctx.Err() != nil || c.ctx.Err() != nil || (errors.As(err, &se) && !se.retryable()) {
			c.dropSub(s, err)
			return nil, fmt.Errorf("join %s: %w", channel, err)
		}
	}
}

// Channel returns the channel's name.
func (s *Subscription) Channel() string { return s.channel }

// Events returns the subscription's stream.
func (s *Subscription) Events() <-chan Event { return s.events }

// Last returns the highest seq delivered or settled so far; pass it to From
// to resume after a restart.
func (s *Subscription) Last() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq.last
}

// Err returns why the subscription ended, nil while it runs.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ErrLeft is the Err of a subscription ended by Leave.
var ErrLeft = errors.New("wschat client: left the channel")

// Leave leaves the channel and ends the stream.
func (s *Subscription) Leave(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	if c.subs[s.channel] != s {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotJoined, s.channel)
	}
	delete(c.subs, s.channel)
	c.mu.Unlock()
	s.end(ErrLeft)
	k, err := c.waitActive(ctx)
	if err != nil {
		return err
	}
	_, err = k.call(ctx, &wire.Leave{Channel: s.channel})
	var se *ServerError
	if errors.As(err, &se) && se.Code == "not_member" {
		return nil
	}
	return err
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended, s.err = true, err
	if s.gapTimer != nil {
		s.gapTimer.Stop()
	}
	if s.typingT != nil {
		s.typingT.Stop()
	}
	s.cancel()
	close(s.done)
}

// pump moves events from the unbounded queue to the Events channel, so the
// connection's reader never blocks on a slow application.
func (s *Subscription) pump() {
	defer s.c.wg.Done()
	defer close(s.events)
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, e := range q {
			select {
			case s.events <- e:
			case <-s.done:
				return
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-s.signal:
		case <-s.done:
			return
		}
	}
}

// push folds events into the model and queues them; the caller holds
// s.mu, so order is the sequencer's.
func (s *Subscription) push(out []Event) {
	if len(out) == 0 || s.ended {
		return
	}
	for _, e := range out {
		s.model.fold(e)
	}
	s.enqueue(out)
}

// enqueue hands events to the application without folding them; the
// caller holds s.mu.
func (s *Subscription) enqueue(out []Event) {
	if len(out) == 0 || s.ended {
		return
	}
	s.queue = append(s.queue, out...)
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// worker asks history when a gap has been open for GapTimeout or the
// reorder buffer overflowed, on whatever connection is active.
func (s *Subscription) worker() {
	defer s.c.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		}
		k, err := s.c.waitActive(s.ctx)
		if err != nil {
			continue
		}
		if err := s.catchUp(s.ctx, k); err != nil && s.ctx.Err() == nil {
			s.armGap(true)
		}
	}
}

func (s *Subscription) kickNow() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// armGap starts the gap timer unless it runs; force arms it even without a
// gap (to retry a failed catch-up).
func (s *Subscription) armGap(force bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.gapTimer != nil || (!force && !s.seq.gap()) {
		return
	}
	s.gapTimer = time.AfterFunc(s.c.opts.GapTimeout, func() {
		s.mu.Lock()
		s.gapTimer = nil
		s.mu.Unlock()
		s.kickNow()
	})
}

// liveUpdate takes a live update: an item of the stream like a message.
func (s *Subscription) liveUpdate(u Update) {
	s.liveEvent(Event{Type: EventUpdate, Update: u})
}

// fold takes an event outside the stream (typing, read): into the model
// and to the application at once.
func (s *Subscription) fold(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push([]Event{e})
}

func (s *Subscription) liveEvent(e Event) {
	s.mu.Lock()
	out, ok := s.seq.offerEvent(e, nil, false)
	s.push(out)
	s.mu.Unlock()
	if !ok {
		s.kickNow()
	}
	s.armGap(false)
}

func (s *Subscription) presence(t EventType, p Presence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push([]Event{{Type: t, Presence: p}})
}

// rejoin joins the channel on k; a timeout is retried a few times since a
// repeated join is harmless.
func (s *Subscription) rejoin(ctx context.Context, k *conn) error {
	var err error
	for range 3 {
		var f *frame
		f, err = k.call(ctx, &wire.Join{Channel: s.channel, Ref: newRef()})
		if err == nil {
			s.mu.Lock()
			if f.LastSeq != nil {
				s.seq.start(*f.LastSeq)
			}
			s.joinedAs(f)
			s.mu.Unlock()
			return nil
		}
		if !errors.Is(err, errTimeout) {
			return err
		}
	}
	return err
}

// catchUp replays history after the last delivered seq until the server
// says there is no more, applying `through` (settled seqs), `truncated`
// (a discontinuity) and, for old servers, the highest seq returned.
func (s *Subscription) catchUp(ctx context.Context, k *conn) error {
	s.catchMu.Lock()
	defer s.catchMu.Unlock()
	s.mu.Lock()
	started, after := s.seq.started, s.seq.last
	s.mu.Unlock()
	if !started {
		return nil
	}
	var maxSeen int64
	for tries := 0; ; {
		a := after
		f, err := k.call(ctx, &wire.History{Channel: s.channel, After: a, Limit: s.c.opts.HistoryLimit})
		var se *ServerError
		if err != nil && tries < 3 && (errors.Is(err, errTimeout) || (errors.As(err, &se) && se.retryable())) {
			tries++
			if se != nil && se.Code == "not_member" {
				_ = s.rejoin(ctx, k)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("history %s: %w", s.channel, err)
		}
		s.mu.Lock()
		var out []Event
		if f.Truncated && f.Oldest != nil {
			out = s.seq.discontinuity(*f.Oldest, out)
		}
		for _, e := range historyEvents(s.channel, f) {
			out, _ = s.seq.offerEvent(e, out, true)
			maxSeen = max(maxSeen, seqOf(e))
		}
		if f.Through != nil {
			out = s.seq.settle(*f.Through, out)
		} else if !f.More && maxSeen > 0 {
			out = s.seq.settle(maxSeen, out)
		}
		s.push(out)
		after = max(s.seq.last, f.historyNext())
		s.mu.Unlock()
		if !f.More {
			s.armGap(false)
			return nil
		}
	}
}

// newRef returns a random join ref, unique among the members' concurrent
// joins.
func newRef() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "j-" + hex.EncodeToString(b)
}
