// Package client is the Go SDK of wschat. It turns the at-least-once,
// possibly out-of-order deliveries of the wire protocol (docs/protocol.md)
// into what an application wants: per channel, every message once, in
// strictly increasing seq, across reconnects and connection handovers, and
// sends that are retried with their clientId until the server acknowledges
// them. docs/client.md lists the guarantees and what the server must provide.
package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Client. The zero value of every field means its default.
type Options struct {
	// Token returns the JWT for one connection attempt; it is called for
	// every attempt, so it can refresh. nil connects anonymously. An error
	// stops the client with ErrToken.
	Token func(ctx context.Context) (string, error)
	// TokenInQuery sends the token as ?token= instead of in
	// Sec-WebSocket-Protocol (docs/auth.md prefers the subprotocol).
	TokenInQuery bool
	// OnState is called on every state transition, in order, from the
	// client's own goroutine: it must not block or call back into the client.
	OnState func(StateChange)
	// PingInterval: keep-alive. A ping goes out when nothing was sent for
	// this long, below API Gateway's 10-minute idle limit (which only
	// client messages reset). Default 5m.
	PingInterval time.Duration
	// HeartbeatInterval: when nothing was received for this long, a probe
	// (a ping) checks that the connection still carries frames. Any frame
	// received counts as a sign of life, so a busy connection sends no
	// probe. Default 18s; negative turns the heartbeat off (keep-alive
	// pings still probe). docs/client.md, "Liveness", prices each setting.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout: a connection that receives nothing within this
	// long of a probe is dead (a half-open connection: the network went
	// silent without a close); the client replaces it. A request that has
	// had no answer, and nothing else arrived, for a quarter of it sends a
	// probe at once. A silent connection is found within
	// HeartbeatInterval + HeartbeatTimeout. Default 8s.
	HeartbeatTimeout time.Duration
	// PingFrames sends heartbeat probes as WebSocket Ping control frames
	// instead of ping messages. API Gateway answers Ping frames itself
	// (RFC 6455 requires a Pong); that they are not billed as messages is
	// assumed, not documented by AWS, and they are not relied on to reset
	// the idle timer: keep-alive stays a ping message. Default false.
	PingFrames bool
	// MaxLifetime: hand over to a new connection after this long, before
	// API Gateway's 2-hour cut. Default 2h minus 5m.
	MaxLifetime time.Duration
	// AckTimeout: how long to wait for an answer (ack, joined, history,
	// pong) before retrying. Default 10s.
	AckTimeout time.Duration
	// DialTimeout bounds one connection attempt. Default 15s.
	DialTimeout time.Duration
	// BackoffBase and BackoffMax shape full-jitter exponential backoff:
	// attempt n waits a uniform random time in [0, min(BackoffMax, BackoffBase*2^n)).
	// Defaults 250ms and 30s.
	BackoffBase, BackoffMax time.Duration
	// OutboxSize bounds unacknowledged sends; Send fails with ErrOutboxFull
	// beyond it. Default 256.
	OutboxSize int
	// MaxSendAttempts: after this many attempts without an ack a send fails
	// with ErrSendFailed. Default 10.
	MaxSendAttempts int
	// ReorderWindow bounds the messages held per channel ahead of a gap. Default 1024.
	ReorderWindow int
	// GapTimeout: how long a gap may stay open before history is asked
	// again. Default 2s.
	GapTimeout time.Duration
	// HistoryLimit is the page size of catch-up requests (1..100). Default 100.
	HistoryLimit int
	// ModelSize bounds the messages a subscription's state model keeps
	// (Subscription.Messages); the oldest go first. Default 10,000.
	ModelSize int
	// HTTPClient is used for the upgrade request. Default http.DefaultClient.
	HTTPClient *http.Client
	// RenewBefore is how long before its token's exp a connection renews
	// its grant in-band with a fresh token from Token (reauth), without a
	// reconnect; at most a third of the token's remaining life. Default 2m.
	// Only JWTs with an exp are renewed.
	RenewBefore time.Duration
	// OnDirect is called when another user opens a direct-message channel
	// with this client's user (join it with Join, or OpenDirect); from the
	// client's own goroutine: it must not block.
	OnDirect func(Direct)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PingInterval, 5*time.Minute)
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 18 * time.Second
	}
	def(&o.HeartbeatTimeout, 8*time.Second)
	def(&o.MaxLifetime, 2*time.Hour-5*time.Minute)
	def(&o.AckTimeout, 10*time.Second)
	def(&o.DialTimeout, 15*time.Second)
	def(&o.BackoffBase, 250*time.Millisecond)
	def(&o.BackoffMax, 30*time.Second)
	def(&o.GapTimeout, 2*time.Second)
	def(&o.RenewBefore, 2*time.Minute)
	if o.OutboxSize <= 0 {
		o.OutboxSize = 256
	}
	if o.MaxSendAttempts <= 0 {
		o.MaxSendAttempts = 10
	}
	if o.ReorderWindow <= 0 {
		o.ReorderWindow = 1024
	}
	if o.HistoryLimit <= 0 || o.HistoryLimit > 100 {
		o.HistoryLimit = 100
	}
	if o.ModelSize <= 0 {
		o.ModelSize = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Stats are counters of what the client went through. Renewals counts
// in-band token renewals (reauth), which keep the connection.
type Stats struct {
	Connects, Reconnects, Handovers, SendRetries, Renewals int64
	// Pings are pings and Ping frames sent (keep-alive and heartbeat
	// probes); Silent counts connections the heartbeat found dead.
	Pings, Silent int64
}

// Client is a connection to a wschat server that survives reconnects. It is
// safe for concurrent use. Close it to release its goroutines.
type Client struct {
	url  string
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	state    State
	err      error // terminal error, set once
	active   *conn // the connection requests go to; nil while reconnecting
	activeCh chan struct{}
	subs     map[string]*Subscription
	userID   string               // learned from the first joined answer
	typed    map[string]time.Time // when Typing last sent, per channel

	out *outbox

	connects, reconnects, handovers, sendRetries, renewals atomic.Int64
	pings, silent                                          atomic.Int64
	stateMu                                                sync.Mutex // orders OnState calls
	// replaces is the id of the last connection lost without a close
	// frame, named on the next upgrade (wire.ReplacesParameter); under mu.
	replaces string
}

// Dial connects to url (ws:// or wss://) and returns once the first
// connection is up. It fails at once with ErrToken or ErrUnauthorized, and
// otherwise keeps trying with backoff until ctx ends. After Dial returns,
// ctx no longer matters: the client lives until Close.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	c := &Client{url: url, opts: opts.withDefaults(), subs: make(map[string]*Subscription),
		activeCh: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.out = newOutbox(c)
	first := make(chan error, 1)
	c.wg.Add(2)
	go c.run(first)
	go c.out.run()
	select {
	case err := <-first:
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("dial %s: %w", url, ctx.Err())
	}
}

// State returns the current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Err returns why the client closed: ErrClosed after Close, the terminal
// error (ErrToken, ErrUnauthorized) otherwise, nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Connects: c.connects.Load(), Reconnects: c.reconnects.Load(),
		Handovers: c.handovers.Load(), SendRetries: c.sendRetries.Load(), Renewals: c.renewals.Load(),
		Pings: c.pings.Load(), Silent: c.silent.Load()}
}

// Close stops the client: pending sends fail with ErrClosed, subscription
// streams end, every goroutine the client started has returned when Close
// returns.
func (c *Client) Close() error {
	c.stop(ErrClosed, "closed by the application")
	c.wg.Wait()
	return nil
}

func (c *Client) stop(err error, reason string) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	subs := c.subs
	c.subs = map[string]*Subscription{}
	c.mu.Unlock()
	c.cancel()
	for _, s := range subs {
		s.end(err)
	}
	c.out.fail(err)
	c.setState(StateClosed, reason, errorIfNot(err, ErrClosed))
}

func errorIfNot(err, not error) error {
	if errors.Is(err, not) {
		return nil
	}
	return err
}

func (c *Client) setState(to State, reason string, err error) {
	c.setStateTook(to, reason, err, 0)
}

// setStateTook reports a transition that took a measured time (a handover).
func (c *Client) setStateTook(to State, reason string, err error, took time.Duration) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.mu.Lock()
	from := c.state
	// Self-transitions are reported too: a failed attempt keeps the
	// state and gives a new reason.
	if from == StateClosed {
		c.mu.Unlock()
		return
	}
	c.state = to
	c.mu.Unlock()
	if c.opts.OnState != nil {
		c.opts.OnState(StateChange{From: from, To: to, Reason: reason, Err: err, At: c.opts.Now(), Took: took})
	}
}

func (c *Client) setActive(k *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = k
	close(c.activeCh)
	c.activeCh = make(chan struct{})
}

// waitActive returns the connection requests should use, waiting for a
// reconnect if there is none.
func (c *Client) waitActive(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		k, ch, err := c.active, c.activeCh, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if k != nil {
			select {
			case <-k.done:
			default:
				return k, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

func terminal(err error) bool {
	return errors.Is(err, ErrToken) || errors.Is(err, ErrUnauthorized)
}

// backoff is full jitter: uniform in [0, min(max, base*2^attempt)).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.BackoffMax
	if attempt < 30 {
		if e := c.opts.BackoffBase << attempt; e > 0 && e < d {
			d = e
		}
	}
	return rand.N(d) + 1
}

// sleep waits d or until the client closes; false means closed.
func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}
