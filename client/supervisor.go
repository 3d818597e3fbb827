package client

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/wschat/wschat/wire"
)

// run is the connection state machine: connect (or reconnect) with backoff,
// hold the connection, hand over before MaxLifetime, stop on a terminal
// error or Close. first gets the outcome of the first connection.
func (c *Client) run(first chan<- error) {
	defer c.wg.Done()
	notified := false
	notify := func(err error) {
		if !notified {
			notified = true
			first <- err
		}
	}
	for attempt := 0; ; {
		k, err := c.establish()
		if err != nil {
			if c.ctx.Err() != nil {
				notify(ErrClosed)
				return
			}
			if terminal(err) {
				c.stop(err, "stopped: "+err.Error())
				notify(err)
				return
			}
			c.setState(c.State(), "connection attempt failed", err)
			if !c.sleep(c.backoff(attempt)) {
				notify(ErrClosed)
				return
			}
			attempt++
			continue
		}
		attempt = 0
		c.connects.Add(1)
		c.replaced()
		c.setActive(k)
		c.setState(StateConnected, "connected, channels rejoined and caught up", nil)
		notify(nil)
		if !c.hold(k) {
			return
		}
	}
}

// establish dials, rejoins every channel and catches each up with history,
// so that a connection is only made active when it is whole.
func (c *Client) establish() (*conn, error) {
	k, err := c.dial(c.ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range c.subscriptions() {
		err := s.rejoin(c.ctx, k)
		var se *ServerError
		if errors.As(err, &se) && !se.retryable() {
			c.dropSub(s, err)
			continue
		}
		if err != nil {
			k.close()
			return nil, err
		}
	}
	for _, s := range c.subscriptions() {
		if err := s.catchUp(c.ctx, k); err != nil {
			k.close()
			return nil, err
		}
	}
	return k, nil
}

// hold watches the active connection: it hands over before MaxLifetime and
// reports a lost connection. It returns false when the client stopped.
func (c *Client) hold(k *conn) bool {
	retry := 0
	for {
		wait := c.opts.MaxLifetime - c.opts.Now().Sub(k.born)
		if retry > 0 {
			wait = c.backoff(retry)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-c.ctx.Done():
			t.Stop()
			k.close()
			return false
		case <-k.done:
			t.Stop()
			c.setActive(nil)
			c.reconnects.Add(1)
			c.lost(k)
			reason := "connection lost"
			if errors.Is(k.err, ErrSilent) {
				reason = "connection silent: no answer to the heartbeat"
			}
			c.setState(StateReconnecting, reason, k.err)
			return true
		case <-t.C:
		}
		started := c.opts.Now()
		nk, err := c.establish()
		if err != nil {
			if terminal(err) {
				c.stop(err, "stopped during handover: "+err.Error())
				k.close()
				return false
			}
			retry++ // keep the old connection while it lasts
			continue
		}
		retry = 0
		c.setActive(nk)
		c.handovers.Add(1)
		c.setStateTook(StateConnected, "handover to a new connection before the lifetime limit", nil, c.opts.Now().Sub(started))
		old := k
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			old.closeGracefully()
		}()
		k = nk
	}
}

func (c *Client) subscriptions() []*Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Subscription, 0, len(c.subs))
	for _, s := range c.subs {
		out = append(out, s)
	}
	return out
}

func (c *Client) sub(channel string) *Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[channel]
}

func (c *Client) dropSub(s *Subscription, err error) {
	c.mu.Lock()
	if c.subs[s.channel] == s {
		delete(c.subs, s.channel)
	}
	c.mu.Unlock()
	s.end(err)
}

// handleFrame routes one server frame: answers to the request waiting on
// that connection, messages and presence to the subscription. Frames that
// are not JSON or have no type (API Gateway's own error frame) are ignored.
func (c *Client) handleFrame(k *conn, data []byte) {
	var f frame
	if json.Unmarshal(data, &f) != nil {
		return
	}
	switch f.Type {
	case "message":
		if s := c.sub(f.Channel); s != nil {
			s.liveEvent(liveMessage(&f))
		}
	case "joined", "left":
		action, typ := "join", EventJoined
		if f.Type == "left" {
			action, typ = "leave", EventLeft
		}
		k.resolve(action, &f)
		if s := c.sub(f.Channel); s != nil {
			s.presence(typ, f.presence())
		}
	case "ack":
		if f.Action == "" && f.UserID != "" {
			c.ownMessage(&f)
		}
		k.resolve(ackAction(&f), &f)
	case "history", "members":
		k.resolve(f.Type, &f)
	case "pong":
		k.lv.setID(f.ConnectionID)
		k.resolve("ping", &f)
	case "error":
		k.resolve(f.Action, &f)
	case "":
		k.lv.setID(f.ConnectionID) // API Gateway's own frame names the connection
	case wire.TypeReauthed:
		k.resolve(wire.ActionReauth, &f)
	case wire.TypeDirect:
		// The answer to our direct request, or news of one opened with us.
		if !k.resolve(wire.ActionDirect, &f) {
			c.direct(&f)
		}
	case wire.TypeRemoved:
		c.removed(&f)
	default:
		c.handleLifecycle(k, &f)
	}
}
