package client

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wschat/wschat/wire"
)

// ErrSilent: the connection stopped carrying frames (nothing arrived within
// Options.HeartbeatTimeout of a probe): a half-open connection, as when a
// phone leaves Wi-Fi. The client replaces it; StateChange.Err carries it.
var ErrSilent = errors.New("wschat client: connection silent: no answer within the heartbeat timeout")

// liveness is one connection's heartbeat state. Any frame received is a
// sign of life; the watchdog sends a probe only when the connection has
// been quiet (HeartbeatInterval), when a request has waited a while with
// nothing received, or when asked to (CheckNow); a probe that nothing at
// all follows within HeartbeatTimeout ends the connection with ErrSilent.
type liveness struct {
	mu      sync.Mutex
	lastRx  time.Time // last frame received (or Pong to a Ping frame)
	lastTx  time.Time // last message written
	probeAt time.Time // when the unanswered probe went out; zero: none
	asked   bool      // CheckNow: probe at the next look
	first   bool      // no ping yet: the first learns the connection's id
	id      string    // the connection's id, from a pong
	died    error     // why the watchdog ended the connection
	wake    chan struct{}
}

func (l *liveness) start(now time.Time) {
	l.lastRx, l.lastTx = now, now
	l.first = true // a ping at once: it checks the new connection and learns its id
	l.wake = make(chan struct{}, 1)
}

func (l *liveness) received(now time.Time) {
	l.mu.Lock()
	l.lastRx = now
	answered := !l.probeAt.IsZero()
	l.mu.Unlock()
	if answered {
		l.kick() // the watchdog plans the next probe from now
	}
}

func (l *liveness) wrote(now time.Time) {
	l.mu.Lock()
	l.lastTx = now
	l.mu.Unlock()
}

// kick makes the watchdog look again now.
func (l *liveness) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *liveness) ask() {
	l.mu.Lock()
	l.asked = true
	l.mu.Unlock()
	l.kick()
}

func (l *liveness) setID(id string) {
	if id == "" {
		return
	}
	l.mu.Lock()
	l.id = id
	l.mu.Unlock()
}

func (l *liveness) connectionID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

func (l *liveness) cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.died
}

// beat is what the watchdog does at one look.
type beat int

const (
	beatWait      beat = iota
	beatProbe          // quiet too long, a request waits, or CheckNow
	beatKeepAlive      // nothing sent for PingInterval: a ping message
	beatDead           // a probe unanswered for HeartbeatTimeout
)

// next decides the beat at now and how long to wait before the next look.
// oldestRequest is when the longest-waiting request was written (zero:
// none).
func (l *liveness) next(o Options, now, oldestRequest time.Time) (beat, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.probeAt.IsZero() {
		if !l.lastRx.Before(l.probeAt) {
			l.probeAt = time.Time{} // something arrived since: alive
		} else if deadline := l.probeAt.Add(o.HeartbeatTimeout); now.Before(deadline) {
			return beatWait, deadline.Sub(now)
		} else {
			return beatDead, 0
		}
	}
	keepAlive := l.lastTx.Add(o.PingInterval)
	if l.first || !now.Before(keepAlive) {
		l.first = false
		return beatKeepAlive, 0
	}
	due := keepAlive
	if o.HeartbeatInterval > 0 {
		due = earliest(due, l.lastRx.Add(o.HeartbeatInterval))
	}
	if !oldestRequest.IsZero() && l.lastRx.Before(oldestRequest) {
		due = earliest(due, oldestRequest.Add(o.HeartbeatTimeout/4))
	}
	if l.asked || !now.Before(due) {
		l.asked = false
		return beatProbe, 0
	}
	return beatWait, due.Sub(now)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// probing records a probe sent at now.
func (l *liveness) probing(now time.Time) {
	l.mu.Lock()
	l.probeAt = now
	l.mu.Unlock()
}

// watchdog runs the heartbeat of k until k ends.
func (k *conn) watchdog() {
	defer k.c.wg.Done()
	o := k.c.opts
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
		case <-k.lv.wake:
			t.Stop()
		}
		now := time.Now()
		st, wait := k.lv.next(o, now, k.oldestRequest())
		switch st {
		case beatDead:
			k.die(ErrSilent)
			return
		case beatKeepAlive:
			k.probe(now, false)
			wait = o.HeartbeatTimeout
		case beatProbe:
			k.probe(now, o.PingFrames)
			wait = o.HeartbeatTimeout
		}
		t.Reset(wait)
	}
}

// probe sends a ping message (or a Ping frame) and notes it as the probe
// to be answered. A failed write ends the connection.
func (k *conn) probe(now time.Time, frame bool) {
	k.lv.probing(now)
	k.c.pings.Add(1)
	ctx, cancel := context.WithTimeout(k.ctx, k.c.opts.HeartbeatTimeout)
	if frame {
		go func() {
			defer cancel()
			if k.ws.Ping(ctx) == nil {
				k.lv.received(time.Now())
				k.lv.kick()
			}
		}()
		return
	}
	defer cancel()
	if err := k.write(ctx, &wire.Ping{}); err != nil && k.ctx.Err() == nil {
		k.die(err)
	}
}

// die ends the connection with err as the reason its reader reports.
func (k *conn) die(err error) {
	k.lv.mu.Lock()
	if k.lv.died == nil {
		k.lv.died = err
	}
	k.lv.mu.Unlock()
	if errors.Is(err, ErrSilent) {
		k.c.silent.Add(1)
	}
	k.close()
}

// oldestRequest is when the longest-waiting answered-by-the-server request
// was written; zero when none waits.
func (k *conn) oldestRequest() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	var oldest time.Time
	for _, w := range k.waiters {
		if !w.sent.IsZero() && (oldest.IsZero() || w.sent.Before(oldest)) {
			oldest = w.sent
		}
	}
	return oldest
}

// CheckNow probes the connection at once: without an answer within
// Options.HeartbeatTimeout it is replaced. Call it when the application
// learns that the network changed (a new Wi-Fi, back from the background).
func (c *Client) CheckNow() {
	c.mu.Lock()
	k := c.active
	c.mu.Unlock()
	if k != nil {
		k.lv.ask()
	}
}

// lost remembers k's id when it ended without a close frame, so that the
// next upgrade names it (wire.ReplacesParameter) and the server drops it
// from fan-out and presence at once rather than at API Gateway's idle cut.
func (c *Client) lost(k *conn) {
	id := k.lv.connectionID()
	if id == "" || isCloseFrame(k.err) {
		return
	}
	c.mu.Lock()
	c.replaces = id
	c.mu.Unlock()
}

// replaced forgets the lost connection once a new one is up.
func (c *Client) replaced() {
	c.mu.Lock()
	c.replaces = ""
	c.mu.Unlock()
}

// withReplaces adds the lost connection's id to an upgrade URL.
func (c *Client) withReplaces(u string) (string, error) {
	c.mu.Lock()
	id := c.replaces
	c.mu.Unlock()
	if id == "" {
		return u, nil
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "", errors.Join(ErrInvalid, err)
	}
	q := pu.Query()
	q.Set(wire.ReplacesParameter, id)
	pu.RawQuery = q.Encode()
	return pu.String(), nil
}

// isCloseFrame reports whether err is the end of a connection by a close
// frame (the server knows it is closed).
func isCloseFrame(err error) bool {
	return websocket.CloseStatus(err) != -1
}
