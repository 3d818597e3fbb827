package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wschat/wschat/internal/emutest"
)

// fleet is the benchmark's WebSocket clients: one user each (b00000,
// b00001, ...), frames not recorded, every "message" frame checked against
// the delivery being timed.
type fleet struct {
	e       *emutest.Emulator
	tr      *http.Transport
	mu      sync.Mutex
	clients []*emutest.Client
	cur     atomic.Pointer[delivery]
	// presence counts the joined and left frames received by any client.
	presence atomic.Int64
}

// delivery times one broadcast: from start to the last member's receipt of
// the frame carrying clientID.
type delivery struct {
	clientID string
	want     int64
	start    time.Time
	got      atomic.Int64
	extra    atomic.Int64 // receipts beyond want (duplicates)
	last     atomic.Int64 // unix ns of the latest receipt
	done     chan struct{}
	// slots counts receipts per slotWidth since start, for the peak rate.
	slots [maxSlots]atomic.Int64
}

// Receipts are counted in 100 ms slots over at most two minutes; the peak
// post rate is the best peakWindow of consecutive slots.
const (
	slotWidth  = 100 * time.Millisecond
	maxSlots   = 1200
	peakWindow = 5
)

// count adds n receipts at time at to their slot.
func (d *delivery) count(at time.Time, n int64) {
	if i := int(at.Sub(d.start) / slotWidth); i >= 0 && i < maxSlots {
		d.slots[i].Add(n)
	}
}

// peakRate is the most receipts per second over any peakWindow slots
// (half a second): the delivery's peak post rate.
func (d *delivery) peakRate() float64 {
	best, sum := int64(0), int64(0)
	for i := range maxSlots {
		sum += d.slots[i].Load()
		if i >= peakWindow {
			sum -= d.slots[i-peakWindow].Load()
		}
		best = max(best, sum)
	}
	return float64(best) / (peakWindow * slotWidth).Seconds()
}

func newDelivery(clientID string, members int) *delivery {
	return &delivery{clientID: clientID, want: int64(members), done: make(chan struct{})}
}

func (d *delivery) receive(at time.Time) {
	d.count(at, 1)
	n := d.got.Add(1)
	if n > d.want {
		d.extra.Add(1)
		return
	}
	ns := at.UnixNano()
	for {
		old := d.last.Load()
		if ns <= old || d.last.CompareAndSwap(old, ns) {
			break
		}
	}
	if n == d.want {
		close(d.done)
	}
}

// elapsed is the time from start to the last receipt so far.
func (d *delivery) elapsed() time.Duration {
	last := d.last.Load()
	if last == 0 {
		return 0
	}
	return time.Unix(0, last).Sub(d.start)
}

func newFleet(e *emutest.Emulator) *fleet {
	return &fleet{e: e, tr: emutest.NewTransport()}
}

func (f *fleet) onFrame(_ *emutest.Client, fr emutest.Frame) {
	if fr.Type == "joined" || fr.Type == "left" {
		f.presence.Add(1)
	}
	d := f.cur.Load()
	if d != nil && fr.Type == "message" && fr.ClientID == d.clientID {
		d.receive(fr.Received)
	}
}

// size is the number of connected clients.
func (f *fleet) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clients)
}

// client returns client i.
func (f *fleet) client(i int) *emutest.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clients[i]
}

// grow connects clients until there are n, `parallel` dials at a time, and
// returns how long the new ones took. progress is called every few seconds.
func (f *fleet) grow(ctx context.Context, n, parallel int, progress func(done int)) (time.Duration, error) {
	from := f.size()
	if n <= from {
		return 0, nil
	}
	start := time.Now()
	results := make([]*emutest.Client, n-from)
	var firstErr atomic.Pointer[error]
	var done atomic.Int64
	next := atomic.Int64{}
	next.Store(int64(from))
	var wg sync.WaitGroup
	stopTicker := make(chan struct{})
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				progress(from + int(done.Load()))
			case <-stopTicker:
				return
			}
		}
	}()
	for range parallel {
		wg.Go(func() {
			for ctx.Err() == nil && firstErr.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := f.dial(ctx, fmt.Sprintf("b%05d", i))
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				results[i-from] = c
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(stopTicker)
	elapsed := time.Since(start)
	f.mu.Lock()
	for _, c := range results {
		if c != nil {
			f.clients = append(f.clients, c)
		}
	}
	f.mu.Unlock()
	if p := firstErr.Load(); p != nil {
		return elapsed, *p
	}
	if err := ctx.Err(); err != nil {
		return elapsed, err
	}
	return elapsed, nil
}

// dial mints a token and connects, retrying a refused connection a few
// times (a handler instance starting under load can time out its init).
func (f *fleet) dial(ctx context.Context, user string) (*emutest.Client, error) {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var tok string
		tok, err = f.e.Token(dctx, user)
		if err == nil {
			var c *emutest.Client
			c, err = emutest.Dial(dctx, f.e.DialURL(tok), user, emutest.ClientOptions{OnFrame: f.onFrame, Transport: f.tr})
			if err == nil {
				cancel()
				return c, nil
			}
		}
		cancel()
	}
	return nil, err
}

// open counts the clients whose connection is still open.
func (f *fleet) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.clients {
		if c.Ended() == nil {
			n++
		}
	}
	return n
}

// joinProtocol has clients [0, n) join channel through the protocol,
// `parallel` at a time.
func (f *fleet) joinProtocol(ctx context.Context, channel string, n, parallel int) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	errs := make([]error, n)
	for i := range n {
		c := f.client(i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			jctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if err := c.Join(jctx, channel); err != nil {
				errs[i] = fmt.Errorf("%s joins %s: %w", c.User, channel, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// closeAll drops every connection without a close handshake.
func (f *fleet) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.clients {
		_ = c.CloseNow()
	}
}
