// Package badnet is a hostile network for tests: a TCP proxy that sits
// between clients and a server (the SDK clients and the emulator) and
// injects, per connection, the faults a phone meets on a bad network:
//
//   - Blackhole: the connection goes silent in both directions without a FIN
//     or an RST (a half-open connection: the phone walked out of Wi-Fi).
//     Bytes sent either way are read and dropped, so each end sees its
//     writes succeed and nothing come back, until it gives up on its own.
//   - Latency and jitter: every chunk is delayed by Latency plus a uniform
//     random part of Jitter, in order (TCP never reorders).
//   - Bandwidth: a cap in bytes per second per direction.
//   - Reset: the connection is cut with an RST to both ends.
//   - Pause, then Resume: nothing is forwarded for a while, nothing is lost
//     (a train in a tunnel); what was sent meanwhile arrives on resume.
//
// Every fault applied is counted (Proxy.Faults), and so are the bytes
// forwarded and dropped, so a test can print what it did and fail when a
// fault it relies on never happened.
package badnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Kind names a fault in the counters.
type Kind string

// The fault kinds.
const (
	KindBlackhole Kind = "blackhole"
	KindReset     Kind = "reset"
	KindPause     Kind = "pause"
	KindLatency   Kind = "latency"
	KindBandwidth Kind = "bandwidth"
)

// Shape is a connection's latency, jitter and bandwidth, per direction.
type Shape struct {
	// Latency delays every chunk; Jitter adds a uniform random delay in
	// [0, Jitter) on top, without reordering.
	Latency, Jitter time.Duration
	// Bandwidth caps bytes per second (0: no cap).
	Bandwidth int
}

// Options configure a Proxy.
type Options struct {
	// Shape applies to every new connection (counted once per connection
	// that it slows down).
	Shape Shape
}

// Proxy accepts TCP connections on a loopback port and forwards each to
// the target.
type Proxy struct {
	target string
	opts   Options
	ln     net.Listener

	mu     sync.Mutex
	conns  []*Conn
	faults map[Kind]int
	closed bool
	wg     sync.WaitGroup

	accepted  atomic.Int64
	forwarded atomic.Int64
	dropped   atomic.Int64
}

// Listen starts a proxy to target (host:port) on 127.0.0.1 and a free port.
func Listen(target string, opts Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("badnet: listen: %w", err)
	}
	p := &Proxy{target: target, opts: opts, ln: ln, faults: map[Kind]int{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// DialContext connects to the proxy whatever the address asked for: a
// client that dials with it keeps addressing the server (its URL and Host
// header name the server, which may refuse other hosts) while its bytes
// cross this network.
func (p *Proxy) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", p.Addr())
}

// HTTPClient is an HTTP client whose connections go through the proxy
// (DialContext), for WebSocket upgrades: one connection per request, so a
// reconnect makes a new proxied connection.
func (p *Proxy) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: p.DialContext, DisableKeepAlives: true, ForceAttemptHTTP2: false}}
}

// Close stops accepting and closes every connection (with a FIN, not as a
// fault), blackholed ones included.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := append([]*Conn(nil), p.conns...)
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.shutdown(false)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(down)
		}()
	}
}

// serve dials the target for one accepted client and forwards until both
// directions are done.
func (p *Proxy) serve(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		resetConn(client)
		return
	}
	p.accepted.Add(1)
	c := &Conn{p: p, client: client, server: server, born: time.Now(), done: make(chan struct{})}
	c.up = newPipe(c, client, server, p.opts.Shape)
	c.down = newPipe(c, server, client, p.opts.Shape)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = client.Close()
		_ = server.Close()
		return
	}
	c.id = len(p.conns) + 1
	p.conns = append(p.conns, c)
	if s := p.opts.Shape; s.Latency > 0 || s.Jitter > 0 {
		p.faults[KindLatency]++
	}
	if p.opts.Shape.Bandwidth > 0 {
		p.faults[KindBandwidth]++
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, pp := range []*pipe{c.up, c.down} {
		wg.Add(2)
		go func() { defer wg.Done(); pp.readLoop() }()
		go func() { defer wg.Done(); pp.writeLoop() }()
	}
	wg.Wait()
	c.shutdown(false)
}

func (p *Proxy) count(k Kind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[k]++
}

// Faults returns how many times each kind of fault was applied.
func (p *Proxy) Faults() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Kind]int, len(p.faults))
	for k, v := range p.faults {
		out[k] = v
	}
	return out
}

// Stats are the proxy's byte and connection counters.
type Stats struct {
	Accepted, Forwarded, Dropped int64
}

// Stats returns connections accepted and bytes forwarded and dropped.
func (p *Proxy) Stats() Stats {
	return Stats{Accepted: p.accepted.Load(), Forwarded: p.forwarded.Load(), Dropped: p.dropped.Load()}
}

// Conns returns the connections still open, oldest first; a blackholed
// connection stays open (that is the fault) until Reset or Close.
func (p *Proxy) Conns() []*Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Conn
	for _, c := range p.conns {
		if !c.isDone() {
			out = append(out, c)
		}
	}
	return out
}

// Healthy returns the newest open connection that carries no fault (not
// blackholed, not paused), or nil: the one a client that reconnected
// through this proxy is using now.
func (p *Proxy) Healthy() *Conn {
	conns := p.Conns()
	sort.SliceStable(conns, func(i, j int) bool { return conns[i].id > conns[j].id })
	for _, c := range conns {
		if !c.blackholed.Load() && !c.paused.Load() {
			return c
		}
	}
	return nil
}

// Conn is one proxied connection.
type Conn struct {
	p              *Proxy
	id             int
	client, server net.Conn
	born           time.Time
	up, down       *pipe

	blackholed atomic.Bool
	paused     atomic.Bool
	doneOnce   sync.Once
	done       chan struct{}
}

// ID numbers the proxy's connections from 1 in the order they were accepted.
func (c *Conn) ID() int { return c.id }

// Done is closed once both ends of the connection are closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Blackhole makes the connection silent both ways, for good: no byte
// passes, none is answered, and neither end is told (no FIN, no RST), even
// when the other end closes. The ends find out on their own (a heartbeat,
// an idle timeout) or never; Reset or Proxy.Close ends it.
func (c *Conn) Blackhole() {
	if c.blackholed.CompareAndSwap(false, true) {
		c.p.count(KindBlackhole)
		c.up.wake()
		c.down.wake()
	}
}

// Reset cuts the connection with an RST to both ends.
func (c *Conn) Reset() {
	c.p.count(KindReset)
	c.shutdown(true)
}

// Pause stops forwarding in both directions; bytes are held, not dropped.
func (c *Conn) Pause() {
	if c.paused.CompareAndSwap(false, true) {
		c.p.count(KindPause)
	}
}

// Resume forwards again what was held and what follows.
func (c *Conn) Resume() {
	if c.paused.CompareAndSwap(true, false) {
		c.up.wake()
		c.down.wake()
	}
}

// Shape sets the connection's latency, jitter and bandwidth from now on.
func (c *Conn) Shape(s Shape) {
	if s.Latency > 0 || s.Jitter > 0 {
		c.p.count(KindLatency)
	}
	if s.Bandwidth > 0 {
		c.p.count(KindBandwidth)
	}
	c.up.setShape(s)
	c.down.setShape(s)
}

// shutdown closes both ends, with an RST when reset.
func (c *Conn) shutdown(reset bool) {
	c.doneOnce.Do(func() {
		if reset {
			resetConn(c.client)
			resetConn(c.server)
		} else {
			_ = c.client.Close()
			_ = c.server.Close()
		}
		close(c.done)
	})
}

// resetConn closes a TCP connection with an RST instead of a FIN.
func resetConn(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}

// chunk is bytes read at a time, due for writing at a later time; eof
// marks the end of the direction.
type chunk struct {
	data []byte
	due  time.Time
	eof  bool
}

// maxHeld bounds the chunks one direction holds (paused, or delayed); past
// it the reader stops reading and TCP's flow control pushes back, as on a
// real link.
const maxHeld = 256

// pipe forwards one direction of a connection.
type pipe struct {
	c        *Conn
	src, dst net.Conn

	mu      sync.Mutex
	shape   Shape
	q       []chunk
	lastDue time.Time
	ready   chan struct{} // wakes the writer: a chunk, a resume, a fault
	room    chan struct{} // wakes a reader waiting for room in q
}

func newPipe(c *Conn, src, dst net.Conn, s Shape) *pipe {
	return &pipe{c: c, src: src, dst: dst, shape: s, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func (pp *pipe) wake() { notify(pp.ready) }

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (pp *pipe) setShape(s Shape) {
	pp.mu.Lock()
	pp.shape = s
	pp.mu.Unlock()
}

// readLoop reads from src and queues chunks for the writer. While the
// connection is blackholed it reads and drops, and it swallows the end of
// the stream: a dead network tells no one.
func (pp *pipe) readLoop() {
	buf := make([]byte, 32*1024)
	for {
		n, err := pp.src.Read(buf)
		if n > 0 {
			if pp.c.blackholed.Load() {
				pp.c.p.dropped.Add(int64(n))
			} else if !pp.push(chunk{data: append([]byte(nil), buf[:n]...)}) {
				return
			}
		}
		if err != nil {
			if pp.c.blackholed.Load() {
				<-pp.c.done // hold the other end open until Reset or Close
				return
			}
			if !errors.Is(err, io.EOF) {
				// A reset (or any error) from one end is a reset to the other.
				pp.c.shutdown(true)
				return
			}
			pp.push(chunk{eof: true})
			return
		}
	}
}

// push queues ch, waiting for room; false once the connection is done.
func (pp *pipe) push(ch chunk) bool {
	for {
		pp.mu.Lock()
		if len(pp.q) < maxHeld {
			now := time.Now()
			d := pp.shape.Latency
			if pp.shape.Jitter > 0 {
				d += rand.N(pp.shape.Jitter)
			}
			ch.due = now.Add(d)
			if ch.due.Before(pp.lastDue) {
				ch.due = pp.lastDue // TCP keeps order: never overtake
			}
			pp.lastDue = ch.due
			pp.q = append(pp.q, ch)
			pp.mu.Unlock()
			pp.wake()
			return true
		}
		pp.mu.Unlock()
		select {
		case <-pp.room:
		case <-pp.c.done:
			return false
		}
	}
}

// writeLoop writes queued chunks when due, unless paused or blackholed,
// paced to the bandwidth cap.
func (pp *pipe) writeLoop() {
	for {
		pp.mu.Lock()
		var head chunk
		queued := len(pp.q) > 0
		if queued {
			head = pp.q[0]
		}
		bw := pp.shape.Bandwidth
		pp.mu.Unlock()
		if pp.c.blackholed.Load() && queued {
			pp.dropAll()
			continue
		}
		if queued && !pp.c.paused.Load() {
			if d := time.Until(head.due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-pp.c.done:
					t.Stop()
					return
				}
			}
			if !pp.c.paused.Load() && !pp.c.blackholed.Load() && !pp.writeHead(bw) {
				return
			}
			continue
		}
		select {
		case <-pp.ready:
		case <-pp.c.done:
			return
		}
	}
}

// writeHead writes the first chunk; false when the direction is over.
func (pp *pipe) writeHead(bw int) bool {
	pp.mu.Lock()
	ch := pp.q[0]
	pp.q = pp.q[1:]
	pp.mu.Unlock()
	notify(pp.room)
	if ch.eof {
		if tc, ok := pp.dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		return false
	}
	data := ch.data
	for len(data) > 0 {
		n := len(data)
		if bw > 0 {
			n = min(n, max(bw/20, 1)) // 50 ms worth at a time
		}
		start := time.Now()
		w, err := pp.dst.Write(data[:n])
		pp.c.p.forwarded.Add(int64(w))
		if err != nil {
			pp.c.shutdown(true)
			return false
		}
		data = data[n:]
		if bw > 0 {
			if d := time.Duration(float64(n)/float64(bw)*float64(time.Second)) - time.Since(start); d > 0 {
				select {
				case <-time.After(d):
				case <-pp.c.done:
					return false
				}
			}
		}
	}
	return true
}

func (pp *pipe) dropAll() {
	pp.mu.Lock()
	for _, ch := range pp.q {
		pp.c.p.dropped.Add(int64(len(ch.data)))
	}
	pp.q = nil
	pp.mu.Unlock()
	notify(pp.room)
}
