// Package testkit holds the small test-support types that several packages'
// tests need, in the manner of net/http/httptest: a buffer that concurrent
// writers may share, and a settable clock. It is imported only by tests and
// test harnesses, never by a Lambda binary or the emulator's serving path.
package testkit

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"
)

// Buffer is a bytes.Buffer that concurrent writers (a logger, a child
// process's output pump) may share with a reader.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bytes returns a copy of everything written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// Reset discards everything written so far.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// Epoch is the instant a NewClock starts at: fixed, so that tests that print
// or store times are reproducible.
var Epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Clock is a settable clock, safe for concurrent use. Its Now method has the
// signature of time.Now, so it can be passed where a `func() time.Time` is
// injected. The zero Clock reads the Unix epoch; NewClock starts at Epoch.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock set to Epoch.
func NewClock() *Clock {
	c := &Clock{}
	c.Set(Epoch)
	return c
}

// Now returns the clock's current time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock forward by d (backward if d is negative).
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
