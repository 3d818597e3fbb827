package client

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// relay is a TCP relay in front of the fake server whose connections can
// be made silent: bytes are read and dropped both ways, with no FIN or RST
// (a half-open connection). internal/badnet is the full hostile network;
// this module cannot import it.
type relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*relayConn
}

type relayConn struct {
	client, server net.Conn
	silent         chan struct{}
	once           sync.Once
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: strings.TrimPrefix(target, "ws://")}
	t.Cleanup(func() {
		_ = ln.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.conns {
			_ = c.client.Close()
			_ = c.server.Close()
		}
	})
	go func() {
		for {
			cl, err := ln.Accept()
			if err != nil {
				return
			}
			sv, err := net.Dial("tcp", r.target)
			if err != nil {
				_ = cl.Close()
				continue
			}
			c := &relayConn{client: cl, server: sv, silent: make(chan struct{})}
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			go c.pipe(cl, sv)
			go c.pipe(sv, cl)
		}
	}()
	return r
}

func (r *relay) url() string { return "ws://" + r.ln.Addr().String() }

// silenceAll blackholes every connection open now.
func (r *relay) silenceAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.once.Do(func() { close(c.silent) })
	}
}

func (c *relayConn) pipe(src, dst net.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		select {
		case <-c.silent:
			if err != nil {
				return // hold dst open: a dead network tells no one
			}
			continue
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			} else {
				_ = dst.Close()
			}
			return
		}
	}
}

// stateLog records transitions.
type stateLog struct {
	mu  sync.Mutex
	log []StateChange
}

func (l *stateLog) add(s StateChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, s)
}

// silentAt returns when the heartbeat reported a silent connection.
func (l *stateLog) silentAt() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.log {
		if s.To == StateReconnecting && errors.Is(s.Err, ErrSilent) {
			return s.At, true
		}
	}
	return time.Time{}, false
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within %v", what, within)
}

// TestHeartbeatFindsASilentConnection: a connection that goes silent
// without a close is found within HeartbeatInterval + HeartbeatTimeout,
// replaced with an upgrade that names it, and what was sent meanwhile is
// delivered once, in order.
func TestHeartbeatFindsASilentConnection(t *testing.T) {
	for _, frames := range []bool{false, true} {
		name := map[bool]string{false: "ping messages", true: "Ping frames"}[frames]
		t.Run(name, func(t *testing.T) {
			srv := newFakeServer(t, faults{})
			rl := newRelay(t, srv.url())
			var states stateLog
			o := fastOptions("ann")
			o.HeartbeatInterval, o.HeartbeatTimeout, o.PingFrames = 150*time.Millisecond, 100*time.Millisecond, frames
			o.PingInterval = time.Minute
			o.OnState = states.add
			c := dialT(t, rl.url(), o)
			sub, err := c.Join(context.Background(), "general", From(0))
			if err != nil {
				t.Fatal(err)
			}
			rec := record(sub)
			waitFor(t, time.Second, "the first pong", func() bool { return c.Stats().Pings > 0 && c.activeID() != "" })
			lostID := c.activeID()

			silenced := time.Now()
			rl.silenceAll()
			var want []int64
			for i := range 5 {
				want = append(want, srv.post("general", "meanwhile "+string(rune('a'+i))))
			}
			waitFor(t, 2*time.Second, "detection", func() bool { _, ok := states.silentAt(); return ok })
			at, _ := states.silentAt()
			// A sanity bound (timers on a loaded machine run late); the
			// figures are the reliability suite's and make bench's.
			if took, limit := at.Sub(silenced), o.HeartbeatInterval+o.HeartbeatTimeout+time.Second; took > limit {
				t.Errorf("silent connection found after %v, want within %v", took, limit)
			}
			waitFor(t, 3*time.Second, "delivery after the reconnect", func() bool { return len(rec.seqs()) >= len(want) })
			if got := rec.seqs(); !slices.Equal(got, want) {
				t.Errorf("delivered %v, want %v once each, in order", got, want)
			}
			srv.mu.Lock()
			replaces := slices.Clone(srv.replaces)
			srv.mu.Unlock()
			if !slices.Equal(replaces, []string{lostID}) {
				t.Errorf("upgrades named %v as replaced, want [%s]", replaces, lostID)
			}
			if s := c.Stats(); s.Silent != 1 || s.Reconnects != 1 {
				t.Errorf("stats %+v, want 1 silent connection and 1 reconnect", s)
			}
		})
	}
}

// TestBusyConnectionSendsNoProbes: any frame received is a sign of life, so
// a connection that keeps receiving sends no heartbeat probe (only the
// first ping of the connection).
func TestBusyConnectionSendsNoProbes(t *testing.T) {
	srv := newFakeServer(t, faults{})
	o := fastOptions("ann")
	// Frames every 15 ms against a 1 s heartbeat: only a stall of a second
	// on a loaded machine could let a probe through.
	o.HeartbeatInterval, o.HeartbeatTimeout, o.PingInterval = time.Second, time.Second, time.Minute
	c := dialT(t, srv.url(), o)
	if _, err := c.Join(context.Background(), "general"); err != nil {
		t.Fatal(err)
	}
	for range 100 { // 1.5 s of traffic, a frame every 15 ms
		srv.post("general", "busy")
		time.Sleep(15 * time.Millisecond)
	}
	if got := srv.stats().Pings; got != 1 {
		t.Errorf("%d pings over 1.5 s of incoming traffic, want 1 (the connection's first)", got)
	}
	// Quiet now: probes resume.
	waitFor(t, 3*time.Second, "a probe once quiet", func() bool { return srv.stats().Pings >= 2 })
}

// TestUnansweredRequestProbesEarly: a request that waits with nothing
// received sends a probe after a quarter of HeartbeatTimeout instead of
// waiting for HeartbeatInterval; a connection that answers it is kept.
func TestUnansweredRequestProbesEarly(t *testing.T) {
	srv := newFakeServer(t, faults{})
	o := fastOptions("ann")
	o.HeartbeatInterval, o.HeartbeatTimeout, o.PingInterval = time.Minute, 400*time.Millisecond, time.Minute
	o.AckTimeout = 2 * time.Second
	c := dialT(t, srv.url(), o)
	if _, err := c.Join(context.Background(), "general"); err != nil {
		t.Fatal(err)
	}
	// The first pong in: a frame that arrived after the send would rightly
	// count as a sign of life.
	waitFor(t, time.Second, "the first pong", func() bool { return c.activeID() != "" })
	srv.setFaults(faults{Silent: true})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	go func() { _, _ = c.Send(ctx, "general", "unanswered") }()
	// Heartbeat and keep-alive are a minute away: only the waiting
	// request can make a probe this soon.
	waitFor(t, 2*time.Second, "an early probe", func() bool { return srv.stats().Pings == 2 })
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Errorf("probe %v after the send, want it to wait HeartbeatTimeout/4 (100 ms) for an answer first", took)
	}
	time.Sleep(500 * time.Millisecond)
	if s := c.Stats(); s.Reconnects != 0 || s.Silent != 0 {
		t.Errorf("stats %+v: the pong answered the probe, want the connection kept", s)
	}
}

// TestCheckNow probes at once.
func TestCheckNow(t *testing.T) {
	srv := newFakeServer(t, faults{})
	o := fastOptions("ann")
	o.HeartbeatInterval, o.PingInterval = time.Minute, time.Minute
	c := dialT(t, srv.url(), o)
	waitFor(t, time.Second, "the first ping", func() bool { return srv.stats().Pings == 1 })
	c.CheckNow()
	waitFor(t, time.Second, "the probe CheckNow asked for", func() bool { return srv.stats().Pings == 2 })
}

// activeID is the id the active connection learned from its pong.
func (c *Client) activeID() string {
	c.mu.Lock()
	k := c.active
	c.mu.Unlock()
	if k == nil {
		return ""
	}
	return k.lv.connectionID()
}

func (r *recorder) seqs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, e := range r.events {
		if e.Type == EventMessage {
			out = append(out, e.Message.Seq)
		}
	}
	return out
}
