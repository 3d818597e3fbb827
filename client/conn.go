package client

import (
	"github.com/wschat/wschat/wire"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// errTimeout: no answer within Options.AckTimeout. The protocol gives no
// request ids, so a late answer may still arrive; every handler of an answer
// is written so that a late one is harmless.
var errTimeout = errors.New("wschat client: no answer in time")

// conn is one WebSocket connection. At most one request per action is in
// flight on it at a time: error frames name the action but (on old servers)
// not the channel or clientId, so this is what lets an error be matched to
// its request. It also keeps a sender's messages in order (protocol.md,
// Ordering).
type conn struct {
	c    *Client
	ws   *websocket.Conn
	born time.Time

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the reader has stopped
	err    error         // why it stopped; read only after done

	mu      sync.Mutex
	slots   map[string]chan struct{}
	waiters map[string]*waiter
	exp     time.Time // when the connection's token expires (zero: unknown); renew.go

	lv liveness
}

type waiter struct {
	channel, clientID, ref string
	peer                   string // a direct request's other user
	ch                     chan *frame
	sent                   time.Time // when the request was written; zero before
}

// dial makes one connection attempt with a fresh token.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	protos := []string{Subprotocol}
	u := c.url
	var exp time.Time
	if c.opts.Token != nil {
		tok, err := c.opts.Token(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w: %v", ErrToken, err)
		}
		exp = tokenExpiry(tok)
		if c.opts.TokenInQuery {
			pu, err := url.Parse(u)
			if err != nil {
				return nil, fmt.Errorf("%w: url: %v", ErrInvalid, err)
			}
			q := pu.Query()
			q.Set("token", tok)
			pu.RawQuery = q.Encode()
			u = pu.String()
		} else {
			protos = append(protos, tok)
		}
	}
	u, err := c.withReplaces(u)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{Subprotocols: protos, HTTPClient: c.opts.HTTPClient})
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("%w: handshake answered %d", ErrUnauthorized, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	// History answers may fill a 128 KB frame; leave room for escaping.
	ws.SetReadLimit(4 * MaxFrameBytes)
	k := &conn{c: c, ws: ws, born: c.opts.Now(), done: make(chan struct{}),
		slots: make(map[string]chan struct{}), waiters: make(map[string]*waiter), exp: exp}
	k.lv.start(time.Now())
	k.ctx, k.cancel = context.WithCancel(c.ctx)
	c.wg.Add(3)
	go k.readLoop()
	go k.watchdog()
	go k.renewLoop()
	return k, nil
}

func (k *conn) readLoop() {
	defer k.c.wg.Done()
	defer close(k.done)
	defer k.cancel()
	for {
		typ, data, err := k.ws.Read(k.ctx)
		if err != nil {
			k.err = err
			if cause := k.lv.cause(); cause != nil {
				k.err = cause
			}
			return
		}
		k.lv.received(time.Now())
		if typ == websocket.MessageText {
			k.c.handleFrame(k, data)
		}
	}
}

// close ends the connection at once; the reader's exit reports it.
func (k *conn) close() {
	k.cancel()
	_ = k.ws.CloseNow()
}

// closeGracefully sends a close frame (the server sees a normal
// disconnect) and waits for the reader; used for the old side of a handover.
func (k *conn) closeGracefully() {
	_ = k.ws.Close(websocket.StatusNormalClosure, "handover")
	k.cancel()
	<-k.done
}

func (k *conn) write(ctx context.Context, r wire.Request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if len(b) > MaxFrameBytes {
		return fmt.Errorf("%w: frame of %d bytes, at most %d", ErrTextTooLong, len(b), MaxFrameBytes)
	}
	if err := k.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return err
	}
	k.lv.wrote(time.Now())
	return nil
}

func (k *conn) slot(action string) chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.slots[action]
	if !ok {
		s = make(chan struct{}, 1)
		k.slots[action] = s
	}
	return s
}

// call sends r and waits for its answer: the frame, or the server's error
// as a *ServerError, errTimeout, the caller's ctx error, or the
// connection's end.
func (k *conn) call(ctx context.Context, r wire.Request) (*frame, error) {
	action := r.Action()
	channel, clientID, ref := wire.Echo(r)
	s := k.slot(action)
	select {
	case s <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-k.done:
		return nil, k.lost()
	}
	defer func() { <-s }()
	w := &waiter{channel: channel, clientID: clientID, ref: ref, ch: make(chan *frame, 1)}
	if od, ok := r.(*wire.OpenDirect); ok {
		w.peer = od.UserID
	}
	k.mu.Lock()
	k.waiters[action] = w
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		if k.waiters[action] == w {
			delete(k.waiters, action)
		}
		k.mu.Unlock()
	}()
	if err := k.write(ctx, r); err != nil {
		return nil, err
	}
	k.mu.Lock()
	w.sent = time.Now()
	k.mu.Unlock()
	k.lv.kick() // an unanswered request makes the heartbeat probe sooner
	t := time.NewTimer(k.c.opts.AckTimeout)
	defer t.Stop()
	select {
	case f := <-w.ch:
		if f.Type == "error" {
			return f, f.serverError()
		}
		return f, nil
	case <-t.C:
		return nil, errTimeout
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-k.done:
		return nil, k.lost()
	}
}

func (k *conn) lost() error {
	return fmt.Errorf("connection lost: %w", k.err)
}

// resolve hands f to the request waiting on action, if f is its answer,
// and reports whether it was. Fields an old server leaves out (an error's
// channel) match anything.
func (k *conn) resolve(action string, f *frame) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.waiters[action]
	if w == nil {
		return false
	}
	if f.Channel != "" && w.channel != "" && f.Channel != w.channel {
		return false
	}
	if f.ClientID != "" && w.clientID != "" && f.ClientID != w.clientID {
		return false
	}
	// Another member's concurrent join announces itself with its own ref
	// (and a later lastSeq): only ours completes our join. A frame without
	// a ref comes from an older server or a client that sent none.
	if f.Type == "joined" && f.Ref != "" && w.ref != "" && f.Ref != w.ref {
		return false
	}
	// Someone else opening a direct message with us is not our answer.
	if f.Type == wire.TypeDirect && w.peer != "" && f.UserID != w.peer {
		return false
	}
	delete(k.waiters, action)
	w.ch <- f
	return true
}
