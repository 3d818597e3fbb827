package emutest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Frame is one frame a client received: a protocol event (Type set), or API
// Gateway's own error frame ({"message":"Internal server error",
// "connectionId":...,"requestId":...}, Type empty).
type Frame struct {
	Type         string  `json:"type"`
	Channel      string  `json:"channel"`
	Seq          int64   `json:"seq"`
	ClientID     string  `json:"clientId"`
	Text         string  `json:"text"`
	UserID       string  `json:"userId"`
	Code         string  `json:"code"`
	Message      string  `json:"message"`
	Action       string  `json:"action"`
	RequestID    string  `json:"requestId"`
	ConnectionID string  `json:"connectionId"`
	Messages     []Entry `json:"messages"`
	More         bool    `json:"more"`
	Next         int64   `json:"next"`

	// Received is when the client read the frame.
	Received time.Time `json:"-"`
	// Raw is the frame as received.
	Raw []byte `json:"-"`
}

// Entry is one message of a history page.
type Entry struct {
	Seq      int64  `json:"seq"`
	UserID   string `json:"userId"`
	Text     string `json:"text"`
	ClientID string `json:"clientId"`
}

// IsGatewayError reports whether f is API Gateway's error frame (an
// integration that failed, crashed or timed out).
func (f Frame) IsGatewayError() bool { return f.Type == "" && f.Message != "" }

// FrameError is a request answered by an error frame.
type FrameError struct{ Frame Frame }

func (e *FrameError) Error() string {
	if e.Frame.IsGatewayError() {
		return "gateway error frame: " + e.Frame.Message
	}
	return fmt.Sprintf("error frame: %s: %s", e.Frame.Code, e.Frame.Message)
}

// Code is the protocol error code, or "gateway" for API Gateway's frame.
func (e *FrameError) Code() string {
	if e.Frame.IsGatewayError() {
		return "gateway"
	}
	return e.Frame.Code
}

// ErrClosed is returned by requests on a client whose connection ended.
var ErrClosed = errors.New("connection closed")

// ClientOptions tune a client.
type ClientOptions struct {
	// OnFrame, when set, is called with every frame on the reading goroutine.
	OnFrame func(c *Client, f Frame)
	// Record keeps every frame for Frames and Wait.
	Record bool
	// Transport is shared by clients (see NewTransport); nil makes one.
	Transport *http.Transport
}

// Client is one WebSocket client of the emulator.
type Client struct {
	User string
	opts ClientOptions
	ws   *websocket.Conn
	tcp  net.Conn

	mu      sync.Mutex
	frames  []Frame
	changed chan struct{} // closed and replaced whenever a frame arrives or the connection ends
	waiters map[*waiter]struct{}
	ended   error
	done    chan struct{}
}

type waiter struct {
	match func(Frame) (bool, error)
	ch    chan result
}

type result struct {
	f   Frame
	err error
}

type connHolder struct{ conn net.Conn }

type holderKey struct{}

// NewTransport returns an HTTP transport for WebSocket dials that lets each
// client keep its TCP connection, to kill it without a WebSocket close.
func NewTransport() *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				if h, ok := ctx.Value(holderKey{}).(*connHolder); ok {
					h.conn = c
				}
			}
			return c, err
		},
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}
}

// Dial connects to url (with its token) as user.
func Dial(ctx context.Context, url, user string, opts ClientOptions) (*Client, error) {
	if opts.Transport == nil {
		opts.Transport = NewTransport()
	}
	h := &connHolder{}
	dctx := context.WithValue(ctx, holderKey{}, h)
	ws, resp, err := websocket.Dial(dctx, url, &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: opts.Transport},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, fmt.Errorf("dial as %s: %w (HTTP %d)", user, err, status)
	}
	ws.SetReadLimit(1 << 20)
	c := &Client{
		User:    user,
		opts:    opts,
		ws:      ws,
		tcp:     h.conn,
		changed: make(chan struct{}),
		waiters: map[*waiter]struct{}{},
		done:    make(chan struct{}),
	}
	go c.read()
	return c, nil
}

func (c *Client) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.ended = err
			for w := range c.waiters {
				w.ch <- result{err: fmt.Errorf("%w: %v", ErrClosed, err)}
				delete(c.waiters, w)
			}
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
		f := Frame{Received: time.Now(), Raw: data}
		if err := json.Unmarshal(data, &f); err != nil {
			f.Type = "unparsable"
		}
		if c.opts.OnFrame != nil {
			c.opts.OnFrame(c, f)
		}
		c.mu.Lock()
		if c.opts.Record {
			c.frames = append(c.frames, f)
		}
		for w := range c.waiters {
			ok, err := w.match(f)
			if ok || err != nil {
				w.ch <- result{f: f, err: err}
				delete(c.waiters, w)
			}
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// Write sends v (a string is sent as is, anything else as JSON).
func (c *Client) Write(ctx context.Context, v any) error {
	data, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		data = string(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, []byte(data))
}

// Request writes v and waits for the first later frame that match accepts
// (true) or rejects (an error). Error frames for action (protocol errors
// naming it, and API Gateway's error frame) end the wait with a *FrameError.
func (c *Client) Request(ctx context.Context, v any, action string, match func(Frame) bool) (Frame, error) {
	w := &waiter{ch: make(chan result, 1), match: func(f Frame) (bool, error) {
		if f.Type == "error" && (f.Action == action || f.Action == "") || f.IsGatewayError() {
			return false, &FrameError{Frame: f}
		}
		return match(f), nil
	}}
	c.mu.Lock()
	if c.ended != nil {
		c.mu.Unlock()
		return Frame{}, fmt.Errorf("%w: %v", ErrClosed, c.ended)
	}
	c.waiters[w] = struct{}{}
	c.mu.Unlock()
	if err := c.Write(ctx, v); err != nil {
		c.drop(w)
		return Frame{}, err
	}
	select {
	case r := <-w.ch:
		return r.f, r.err
	case <-ctx.Done():
		c.drop(w)
		return Frame{}, fmt.Errorf("%s as %s: no answer: %w", action, c.User, ctx.Err())
	}
}

func (c *Client) drop(w *waiter) {
	c.mu.Lock()
	delete(c.waiters, w)
	c.mu.Unlock()
}

// Join joins channel and waits for its own "joined" event.
func (c *Client) Join(ctx context.Context, channel string) error {
	_, err := c.Request(ctx, map[string]string{"action": "join", "channel": channel}, "join", func(f Frame) bool {
		return f.Type == "joined" && f.Channel == channel && f.UserID == c.User
	})
	return err
}

// Send sends text to channel under clientID and returns the acknowledged seq.
func (c *Client) Send(ctx context.Context, channel, text, clientID string) (int64, error) {
	f, err := c.Request(ctx, map[string]string{"action": "send", "channel": channel, "text": text, "clientId": clientID}, "send", func(f Frame) bool {
		return f.Type == "ack" && f.ClientID == clientID && f.Channel == channel
	})
	return f.Seq, err
}

// SendAckOnly is Send as the SDKs send: with "echo": false, so the sending
// connection gets one frame, the ack, which carries the message's seq,
// sentAt and sender (wire.Send.Echo).
func (c *Client) SendAckOnly(ctx context.Context, channel, text, clientID string) (int64, error) {
	f, err := c.Request(ctx, map[string]any{"action": "send", "channel": channel, "text": text, "clientId": clientID, "echo": false}, "send", func(f Frame) bool {
		return f.Type == "ack" && f.ClientID == clientID && f.Channel == channel
	})
	return f.Seq, err
}

// History fetches every stored message of channel after seq after, page by
// page, within the connection's rate limit: a page answered rate_limited is
// asked again after a pause, as a client should.
func (c *Client) History(ctx context.Context, channel string, after int64) ([]Entry, error) {
	var all []Entry
	limited := 0
	for page := 0; page < 1000; page++ {
		f, err := c.Request(ctx, map[string]any{"action": "history", "channel": channel, "after": after, "limit": 100}, "history", func(f Frame) bool {
			return f.Type == "history" && f.Channel == channel
		})
		var fe *FrameError
		if errors.As(err, &fe) && fe.Code() == "rate_limited" && limited < 50 {
			limited++
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return all, ctx.Err()
			}
			continue
		}
		if err != nil {
			return all, err
		}
		all = append(all, f.Messages...)
		if !f.More {
			return all, nil
		}
		after = f.Next
	}
	return all, errors.New("history: too many pages")
}

// Frames returns a copy of the recorded frames.
func (c *Client) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// Wait waits until cond holds for the recorded frames.
func (c *Client) Wait(ctx context.Context, cond func([]Frame) bool) error {
	for {
		c.mu.Lock()
		ok := cond(c.frames)
		ch := c.changed
		ended := c.ended
		c.mu.Unlock()
		if ok {
			return nil
		}
		if ended != nil {
			return fmt.Errorf("%s: %w: %v", c.User, ErrClosed, ended)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Ended reports why the connection ended, or nil while it is open.
func (c *Client) Ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection with a WebSocket close handshake.
func (c *Client) Close() error {
	return c.ws.Close(websocket.StatusNormalClosure, "")
}

// CloseNow drops the connection without a close handshake.
func (c *Client) CloseNow() error { return c.ws.CloseNow() }

// Kill ends the TCP connection abruptly, as when the client's host dies:
// no WebSocket close frame, and a reset (SO_LINGER 0) instead of a FIN.
func (c *Client) Kill() error {
	if tcp, ok := c.tcp.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
		return tcp.Close()
	}
	if c.tcp != nil {
		return c.tcp.Close()
	}
	return c.ws.CloseNow()
}
