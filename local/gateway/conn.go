package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// connection is one accepted WebSocket connection. Three goroutines serve it:
// run reads (and never blocks on anything but the client, so it sees the
// peer go away), writeLoop writes the outbound queue, and each message is
// processed in its own goroutine, bounded per connection.
type connection struct {
	g  *Gateway
	id string
	// ws is set once the upgrade is done, before ready is closed; close and
	// lose wait for ready, since the connection is registered (and so
	// reachable through @connections) before the 101 reaches the client.
	ws          *websocket.Conn
	ready       chan struct{}
	frames      *frameGuard
	connectedAt time.Time
	lastActive  atomic.Int64 // unix ms
	sourceIP    string
	userAgent   string
	authorizer  map[string]any
	domainName  string

	out      chan []byte   // messages for the client, written in order by writeLoop
	gone     chan struct{} // closed once nothing more can reach the client
	goneOnce sync.Once
	dropped  atomic.Bool   // the gateway dropped the client (it did not read)
	vanished atomic.Bool   // the peer is lost and VanishGrace keeps it registered
	endGrace chan struct{} // closed by DELETE to end a vanish grace early
	endOnce  sync.Once
	inflight chan struct{}
	pending  atomic.Int32 // messages received and not yet processed

	closeOnce   sync.Once
	closeCode   atomic.Int32 // the code the gateway closed with, if it did
	closeReason atomic.Value // string
}

func newConnection(g *Gateway, hs *handshake, ws *websocket.Conn, guard *frameGuard, authorizer map[string]any) *connection {
	c := &connection{
		g:           g,
		id:          hs.connID,
		ws:          ws,
		frames:      guard,
		connectedAt: hs.at,
		sourceIP:    hs.sourceIP,
		userAgent:   hs.userAgent,
		authorizer:  authorizer,
		domainName:  hs.domain,
		ready:       make(chan struct{}),
		out:         make(chan []byte, maxOutbound),
		gone:        make(chan struct{}),
		endGrace:    make(chan struct{}),
		inflight:    make(chan struct{}, maxInFlight),
	}
	c.lastActive.Store(hs.at.UnixMilli())
	return c
}

// errGone is a send to a connection that cannot be reached any more.
var errGone = errors.New("connection gone")

// closeGrace is how long a close started by the gateway (idle cut, maximum
// duration, DELETE @connections) waits for the client's close frame before
// dropping the TCP connection. API Gateway does not keep a client whose
// network went silent for the WebSocket library's 5 s: its $disconnect runs
// at once, and meanwhile posts already answer 410, so a long wait here would
// make the fan-out's 410 cleanup (which announces no `left`) win the race
// with $disconnect far more often than on AWS.
const closeGrace = time.Second

// close starts API Gateway's side of a close and remembers the code for the
// $disconnect event. Only the first call counts.
func (c *connection) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode.Store(int32(code))
		c.closeReason.Store(reason)
		if ws := c.upgraded(); ws != nil {
			t := time.AfterFunc(closeGrace, func() { _ = ws.CloseNow() })
			_ = ws.Close(code, reason)
			t.Stop()
		}
	})
}

// lose marks the client unreachable and cuts the TCP connection, which ends
// the read loop at once. It never waits for the client.
func (c *connection) lose() {
	c.goneOnce.Do(func() { close(c.gone) })
	if ws := c.upgraded(); ws != nil {
		_ = ws.CloseNow()
	}
}

// upgraded waits for the upgrade to end and returns the WebSocket, or nil
// when the upgrade failed.
func (c *connection) upgraded() *websocket.Conn {
	<-c.ready
	return c.ws
}

func (c *connection) isGone() bool {
	select {
	case <-c.gone:
		return true
	default:
		return false
	}
}

// run reads messages until the connection ends, then deregisters it and
// invokes $disconnect.
func (c *connection) run() {
	g := c.g
	idle := time.AfterFunc(g.cfg.IdleTimeout, func() { c.close(websocket.StatusGoingAway, "Going away") })
	defer idle.Stop()
	maxAge := time.AfterFunc(g.cfg.MaxDuration, func() { c.close(websocket.StatusGoingAway, "Going away") })
	defer maxAge.Stop()
	go c.writeLoop()

	code, reason := c.readLoop(idle)
	peerLost := code == websocket.StatusAbnormalClosure && c.closeCode.Load() == 0 && !c.dropped.Load()
	if peerLost && g.cfg.VanishGrace > 0 {
		c.vanish()
	}
	c.goneOnce.Do(func() { close(c.gone) })

	g.mu.Lock()
	delete(g.conns, c.id)
	g.usage.disconnects.Add(1)
	g.usage.endedMs.Add(time.Since(c.connectedAt).Milliseconds())
	g.mu.Unlock()
	g.cfg.Log.Info("disconnected", "connectionId", c.id, "code", int(code), "reason", reason)
	// Messages already received are still processed, as on AWS (their replies
	// go nowhere); $disconnect does not wait for them.
	if route := g.route(RouteDisconnect); route != nil && route.Integration != nil {
		event := c.disconnectEvent(int(code), reason)
		g.usage.invoked(RouteDisconnect)
		done := g.usage.busy()
		if _, err := g.invoke(context.Background(), route.Integration, event); err != nil {
			g.cfg.Log.Error("disconnect integration failed", "connectionId", c.id, "error", err)
		}
		done()
	}
}

// vanish keeps a connection whose peer is lost registered for VanishGrace,
// as API Gateway does while it has not noticed that the network is gone.
func (c *connection) vanish() {
	c.vanished.Store(true)
	c.g.cfg.Log.Info("peer lost; kept registered", "connectionId", c.id, "grace", c.g.cfg.VanishGrace)
	t := time.NewTimer(c.g.cfg.VanishGrace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.endGrace:
	case <-c.g.shutdown:
	}
}

// readLoop reads until the connection ends and returns the close code and
// reason $disconnect reports.
func (c *connection) readLoop(idle *time.Timer) (websocket.StatusCode, string) {
	g := c.g
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			return c.readEndStatus(err)
		}
		if c.frames.exceeded() {
			// The whole message arrived, but in a frame over 32 KB: API Gateway
			// closes such a connection with 1009.
			return c.fail(websocket.StatusMessageTooBig, "Frame size exceeded")
		}
		if typ == websocket.MessageText && !utf8.Valid(data) {
			// RFC 6455 section 8.1: an endpoint fails a connection whose text
			// frame is not UTF-8, with 1007. The bytes are never repaired.
			return c.fail(websocket.StatusInvalidFramePayloadData, "Invalid frame payload data")
		}
		g.usage.received(len(data))
		idle.Reset(g.cfg.IdleTimeout)
		c.lastActive.Store(time.Now().UnixMilli())
		if c.pending.Add(1) > maxPending {
			c.pending.Add(-1)
			g.usage.routed("")
			c.sendError(msgTooManyRequests, newID())
			continue
		}
		done := g.usage.busy()
		go func() {
			defer done()
			defer c.pending.Add(-1)
			c.inflight <- struct{}{}
			defer func() { <-c.inflight }()
			c.handleMessage(typ, data)
		}()
	}
}

// fail closes the connection with code because of what the client sent.
func (c *connection) fail(code websocket.StatusCode, reason string) (websocket.StatusCode, string) {
	c.close(code, reason)
	_ = c.ws.CloseNow()
	return code, reason
}

// readEndStatus is the close code and reason $disconnect reports.
func (c *connection) readEndStatus(err error) (websocket.StatusCode, string) {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		// The library has sent the 1009 close frame; do not wait for the peer.
		c.closeOnce.Do(func() {
			c.closeCode.Store(int32(websocket.StatusMessageTooBig))
			c.closeReason.Store("Message too big")
		})
		_ = c.ws.CloseNow()
		return websocket.StatusMessageTooBig, "Message too big"
	}
	if code := c.closeCode.Load(); code != 0 {
		reason, _ := c.closeReason.Load().(string)
		return websocket.StatusCode(code), reason
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	_ = c.ws.CloseNow()
	return websocket.StatusAbnormalClosure, ""
}

// msgTooManyRequests is the message of API Gateway's throttle frame.
const msgTooManyRequests = "Too Many Requests"

// handleMessage routes one client message and invokes its integration.
func (c *connection) handleMessage(typ websocket.MessageType, data []byte) {
	g := c.g
	requestID := newID()
	expr, routes, bk := g.routing()
	key := selectRoute(expr, routes, data, typ == websocket.MessageText)
	log := g.cfg.Log.With("connectionId", c.id, "routeKey", key, "requestId", requestID)
	g.usage.routed(key)
	if key == "" {
		log.Info("no route matched and no $default route")
		c.sendError("Forbidden", requestID)
		return
	}
	if !bk.allow(key) {
		log.Info("throttled by the stage's route settings")
		c.sendError(msgTooManyRequests, requestID)
		return
	}
	route := routes[key]
	if route.Mock != nil {
		c.serveMock(route, key, requestID, log)
		return
	}
	if route.Integration == nil {
		return
	}
	event := c.messageEvent(key, requestID, typ, data)
	g.usage.invoked(key)
	out, err := g.invoke(context.Background(), route.Integration, event)
	if err != nil {
		log.Error("integration failed", "error", err)
		msg := "Internal server error"
		if errors.Is(err, errIntegrationTimeout) {
			msg = "Endpoint request timed out"
		}
		c.sendError(msg, requestID)
		return
	}
	if route.TwoWay {
		if resp, err := parseProxyResponse(out); err == nil && resp.Body != "" {
			_ = c.send([]byte(resp.Body))
		}
	}
}

// serveMock answers a message from the route's MOCK integration: no
// function runs, and a two-way route sends the rendered answer back.
func (c *connection) serveMock(route *Route, key, requestID string, log *slog.Logger) {
	c.g.usage.mockAnswers.Add(1)
	body, err := route.Mock.answer(c.templateVars(key, requestID, time.Now()))
	if err != nil {
		log.Error("mock integration failed", "error", err)
		c.sendError("Internal server error", requestID)
		return
	}
	if route.TwoWay && body != "" {
		_ = c.send([]byte(body))
	}
}

// sendError sends API Gateway's error frame, byte for byte as AWS writes it.
func (c *connection) sendError(message, requestID string) {
	frame := fmt.Sprintf(`{"message": %s, "connectionId":%s, "requestId":%s}`, jsonString(message), jsonString(c.id), jsonString(requestID))
	_ = c.send([]byte(frame))
}

// send queues a text message for the client without waiting for it. A
// vanished client swallows it (as the network would); a gone one answers
// errGone; a client with maxOutbound messages unread is dropped.
func (c *connection) send(data []byte) error {
	if c.vanished.Load() {
		c.g.usage.sent(len(data)) // API Gateway still thinks it sent it
		return nil
	}
	if c.isGone() {
		return errGone
	}
	select {
	case c.out <- data:
		c.g.usage.sent(len(data))
		return nil
	default:
		c.g.cfg.Log.Warn("client does not read; dropped", "connectionId", c.id, "queued", maxOutbound)
		c.dropped.Store(true)
		c.lose()
		return errGone
	}
}

// writeLoop writes queued messages in order. The first failed or stalled
// write loses the connection, so no writer ever waits on a dead client.
func (c *connection) writeLoop() {
	for {
		select {
		case data := <-c.out:
			if err := c.write(data); err != nil {
				if !c.isGone() {
					c.g.cfg.Log.Info("write failed; connection lost", "connectionId", c.id, "error", err)
				}
				c.lose()
				return
			}
		case <-c.gone:
			return
		}
	}
}

// write writes one text message, split into frames of at most 32 KB as API
// Gateway does.
func (c *connection) write(data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	w, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), MaxFrameBytes)
		if _, err := w.Write(data[:n]); err != nil {
			_ = w.Close()
			return err
		}
		data = data[n:]
	}
	return w.Close()
}
