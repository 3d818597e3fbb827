package badnet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// echoServer echoes every connection until it closes, and reports each
// accepted server-side connection.
func echoServer(t *testing.T) (addr string, accepted <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	ch := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	return ln.Addr().String(), ch
}

func proxyTo(t *testing.T, target string, opts Options) *Proxy {
	t.Helper()
	p, err := Listen(target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads it back within d.
func roundTrip(c net.Conn, msg []byte, d time.Duration) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// only returns the connection the proxy accepted, waiting for it.
func only(t *testing.T, p *Proxy) *Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cs := p.Conns(); len(cs) == 1 {
			return cs[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("proxy has %d connections, want 1", len(p.Conns()))
	return nil
}

func TestForwardsBothWays(t *testing.T) {
	target, _ := echoServer(t)
	p := proxyTo(t, target, Options{})
	c := dial(t, p)
	for i := range 50 {
		if err := roundTrip(c, []byte(fmt.Sprintf("hello %d", i)), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if s := p.Stats(); s.Accepted != 1 || s.Forwarded == 0 || s.Dropped != 0 {
		t.Errorf("stats = %+v, want 1 accepted, bytes forwarded, none dropped", s)
	}
	if f := p.Faults(); len(f) != 0 {
		t.Errorf("faults = %v, want none", f)
	}
}

// TestBlackholeIsSilent: after Blackhole, writes still succeed, nothing
// comes back, and neither end learns anything, even when the server closes.
func TestBlackholeIsSilent(t *testing.T) {
	target, accepted := echoServer(t)
	p := proxyTo(t, target, Options{})
	c := dial(t, p)
	if err := roundTrip(c, []byte("before"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	only(t, p).Blackhole()
	if _, err := c.Write([]byte("into the void")); err != nil {
		t.Fatalf("write after blackhole: %v, want it to succeed", err)
	}
	// The server end closes: a dead network carries no FIN either.
	_ = server.Close()
	_ = c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	n, err := c.Read(make([]byte, 64))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after blackhole: %d bytes, %v; want nothing until the deadline (no data, no FIN, no RST)", n, err)
	}
	if s := p.Stats(); s.Dropped == 0 {
		t.Errorf("stats = %+v, want the bytes written after the blackhole dropped", s)
	}
	if f := p.Faults(); f[KindBlackhole] != 1 {
		t.Errorf("faults = %v, want 1 blackhole", f)
	}
	if h := p.Healthy(); h != nil {
		t.Errorf("Healthy = conn %d, want none (the only one is blackholed)", h.ID())
	}
}

func TestResetSendsRST(t *testing.T) {
	target, _ := echoServer(t)
	p := proxyTo(t, target, Options{})
	c := dial(t, p)
	if err := roundTrip(c, []byte("x"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	only(t, p).Reset()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after reset: %v, want connection reset", err)
	}
	if f := p.Faults(); f[KindReset] != 1 {
		t.Errorf("faults = %v, want 1 reset", f)
	}
}

// TestPauseHoldsThenDelivers: nothing passes while paused; everything does
// on resume, in order.
func TestPauseHoldsThenDelivers(t *testing.T) {
	target, _ := echoServer(t)
	p := proxyTo(t, target, Options{})
	c := dial(t, p)
	if err := roundTrip(c, []byte("x"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	conn := only(t, p)
	conn.Pause()
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read while paused: %d bytes, %v; want nothing", n, err)
	}
	conn.Resume()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Fatalf("after resume: %q, %v; want the held bytes", got, err)
	}
	if f := p.Faults(); f[KindPause] != 1 {
		t.Errorf("faults = %v, want 1 pause", f)
	}
}

// TestLatencyAndJitterKeepOrder: every chunk is late by at least the
// latency each way, and jitter never reorders the stream.
func TestLatencyAndJitterKeepOrder(t *testing.T) {
	target, _ := echoServer(t)
	const latency = 40 * time.Millisecond
	p := proxyTo(t, target, Options{Shape: Shape{Latency: latency, Jitter: 30 * time.Millisecond}})
	c := dial(t, p)
	start := time.Now()
	if err := roundTrip(c, []byte("ping"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*latency {
		t.Errorf("round trip %s, want at least %s", rtt, 2*latency)
	}
	var want bytes.Buffer
	go func() {
		for i := range 300 {
			_, _ = fmt.Fprintf(c, "%04d,", i)
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range 300 {
		fmt.Fprintf(&want, "%04d,", i)
	}
	got := make([]byte, want.Len())
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("stream reordered or damaged:\n got %.80s...\nwant %.80s...", got, want.Bytes())
	}
	if f := p.Faults(); f[KindLatency] != 1 {
		t.Errorf("faults = %v, want latency counted once (one connection)", f)
	}
}

func TestBandwidthCap(t *testing.T) {
	target, _ := echoServer(t)
	p := proxyTo(t, target, Options{})
	c := dial(t, p)
	if err := roundTrip(c, []byte("x"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	const bps, size = 100_000, 50_000
	only(t, p).Shape(Shape{Bandwidth: bps})
	msg := bytes.Repeat([]byte("b"), size)
	start := time.Now()
	if err := roundTrip(c, msg, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Each direction is capped; the echo streams, so the two overlap: at
	// least size/bps in all (less a margin for the first chunk).
	if took, want := time.Since(start), time.Duration(size)*time.Second/bps*8/10; took < want {
		t.Errorf("%d bytes echoed in %s at %d B/s, want at least %s", size, took, bps, want)
	}
	if f := p.Faults(); f[KindBandwidth] != 1 {
		t.Errorf("faults = %v, want 1 bandwidth cap", f)
	}
}

// TestCloseEndsBlackholedConnections: Close ends what Blackhole keeps open.
func TestCloseEndsBlackholedConnections(t *testing.T) {
	target, _ := echoServer(t)
	p, err := Listen(target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	if err := roundTrip(c, []byte("x"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	conn := only(t, p)
	conn.Blackhole()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case <-conn.Done():
	default:
		t.Error("the blackholed connection is still open after Close")
	}
}

// TestDialContextKeepsTheAddress: a client dialing through the proxy keeps
// addressing the server (the Host header is the server's) while its bytes
// cross the proxy, which counts them.
func TestDialContextKeepsTheAddress(t *testing.T) {
	hosts := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hosts <- r.Host })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	p := proxyTo(t, ln.Addr().String(), Options{})
	resp, err := p.HTTPClient().Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := <-hosts; got != ln.Addr().String() {
		t.Errorf("Host %q, want the server's %q", got, ln.Addr())
	}
	if s := p.Stats(); s.Accepted != 1 || s.Forwarded == 0 {
		t.Errorf("stats %+v, want the request through the proxy", s)
	}
}
