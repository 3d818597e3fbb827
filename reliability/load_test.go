package reliability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/emutest"
)

// loadSize is one load scenario's size.
type loadSize struct {
	clients, channels, messages int
}

func (s loadSize) String() string {
	return fmt.Sprintf("%d clients × %d messages over %d channels", s.clients, s.messages, s.channels)
}

// TestReliabilityLoad has every client send messages to two channels while
// every member listens, then checks that each acknowledged message reached
// every member (all connected throughout) exactly once, in the channel's seq
// order, and is in history.
func TestReliabilityLoad(t *testing.T) {
	size := loadSize{clients: 12, channels: 3, messages: 10}
	if soak {
		size = loadSize{clients: 150, channels: 10, messages: 60}
	}
	t.Logf("load: %s", size)
	e := startEmulator(t, emutest.Options{PostLatency: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	clients := connect(ctx, t, e, "load", size.clients)
	channelsOf := func(i int) []string {
		return []string{fmt.Sprintf("load-%d", i%size.channels), fmt.Sprintf("load-%d", (i+1)%size.channels)}
	}
	joinAll(ctx, t, clients, channelsOf)

	// Each client sends its messages one at a time, alternating between its
	// channels, at 4 per second (the dev stack allows 5, burst 10).
	var (
		mu    sync.Mutex
		acked = map[string][]int64{} // channel -> acknowledged seqs
		stats sendStats
	)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			chans := channelsOf(i)
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for k := range size.messages {
				ch := chans[k%len(chans)]
				id := fmt.Sprintf("%s-%d", c.User, k)
				seq, err := sendRetrying(ctx, c, ch, "text of "+id, id, &stats)
				if err != nil {
					t.Errorf("%s: send %s: %v", c.User, id, err)
					return
				}
				mu.Lock()
				acked[ch] = append(acked[ch], seq)
				mu.Unlock()
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	sent := time.Since(start)
	if t.Failed() {
		return
	}

	// Wait (bounded) for every member to have every acknowledged message.
	deadline, cancelWait := context.WithTimeout(ctx, 60*time.Second)
	defer cancelWait()
	for i, c := range clients {
		for _, ch := range channelsOf(i) {
			want := len(acked[ch])
			err := c.Wait(deadline, func(fs []emutest.Frame) bool { return countMessages(fs, ch) >= want })
			if err != nil {
				t.Errorf("%s in %s: %v", c.User, ch, err)
			}
		}
	}

	var total messageCheck
	for i, c := range clients {
		for _, ch := range channelsOf(i) {
			total.add(checkMessages(c.Frames(), ch, acked[ch]))
		}
	}
	totalAcked := 0
	for _, seqs := range acked {
		totalAcked += len(seqs)
	}
	t.Logf("load: %d messages acknowledged in %s; %d deliveries checked: lost %d, duplicated %d, unacknowledged %d, "+
		"out of the sender's order %d, out of the channel's seq order %d (concurrent senders); retried sends %d %v",
		totalAcked, sent.Round(time.Millisecond), total.delivered, total.lost, total.duplicated, total.unknown,
		total.senderFIFO, total.outOfOrder, stats.retries(), stats.codes())
	if total.lost != 0 || total.duplicated != 0 || total.unknown != 0 || total.senderFIFO != 0 {
		t.Errorf("want no loss, duplicate, unacknowledged delivery or reordering of one sender's messages; got %+v", total)
	}
	if stats.retries() != 0 {
		t.Errorf("want every send acknowledged at the first attempt under this load; got error frames %v", stats.codes())
	}

	// History holds every acknowledged message, in seq order.
	for i := range size.channels {
		// Client i is a member of load-i.
		checkHistory(ctx, t, clients[i], []string{fmt.Sprintf("load-%d", i)}, acked)
	}
}

// connect dials n clients, users <prefix>-000..., a few at a time.
func connect(ctx context.Context, t *testing.T, e *emutest.Emulator, prefix string, n int) []*emutest.Client {
	t.Helper()
	tr := emutest.NewTransport()
	return dialAll(ctx, t, e, prefix, n, 8, func(int) emutest.ClientOptions {
		return emutest.ClientOptions{Record: true, Transport: tr}
	})
}

// dialAll connects n clients (users <prefix>-000 …), parallel at a time,
// client i with opts(i), and closes them when the test ends.
func dialAll(ctx context.Context, t *testing.T, e *emutest.Emulator, prefix string, n, parallel int, opts func(i int) emutest.ClientOptions) []*emutest.Client {
	t.Helper()
	clients := make([]*emutest.Client, n)
	errs := make([]error, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			user := fmt.Sprintf("%s-%03d", prefix, i)
			tok, err := e.Token(ctx, user)
			if err != nil {
				errs[i] = err
				return
			}
			clients[i], errs[i] = emutest.Dial(ctx, e.DialURL(tok), user, opts(i))
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				_ = c.CloseNow()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return clients
}

// joinAll has client i join channelsOf(i), a few clients at a time.
func joinAll(ctx context.Context, t *testing.T, clients []*emutest.Client, channelsOf func(int) []string) {
	t.Helper()
	errs := make([]error, len(clients))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for _, ch := range channelsOf(i) {
				jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := c.Join(jctx, ch)
				cancel()
				if err != nil {
					errs[i] = fmt.Errorf("%s joins %s: %w", c.User, ch, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// sendStats counts the error frames senders got.
type sendStats struct {
	mu     sync.Mutex
	byCode map[string]int
}

func (s *sendStats) add(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byCode == nil {
		s.byCode = map[string]int{}
	}
	s.byCode[code]++
}

func (s *sendStats) retries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.byCode {
		n += v
	}
	return n
}

func (s *sendStats) codes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.byCode {
		out[k] = v
	}
	return out
}

// sendRetrying sends until acknowledged, retrying the same clientId after an
// error frame (internal, rate_limited, or API Gateway's), as a client should:
// the server never stores one clientId twice. Bounded by 20 attempts and ctx.
func sendRetrying(ctx context.Context, c *emutest.Client, channel, text, clientID string, stats *sendStats) (int64, error) {
	var err error
	for attempt := range 20 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(200+100*attempt) * time.Millisecond):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var seq int64
		seq, err = c.Send(rctx, channel, text, clientID)
		cancel()
		if err == nil {
			return seq, nil
		}
		var fe *emutest.FrameError
		if !errors.As(err, &fe) {
			return 0, err
		}
		stats.add(fe.Code())
	}
	return 0, fmt.Errorf("not acknowledged after 20 attempts: %w", err)
}

// countMessages counts the message frames of channel.
func countMessages(fs []emutest.Frame, channel string) int {
	n := 0
	for _, f := range fs {
		if f.Type == "message" && f.Channel == channel {
			n++
		}
	}
	return n
}

// messageCheck compares what a member received with what was acknowledged.
type messageCheck struct {
	delivered  int // acknowledged messages received (once or more)
	lost       int // acknowledged, never received
	duplicated int // extra receipts of a seq
	outOfOrder int // receipts with a seq lower than an earlier one of the channel (any sender)
	senderFIFO int // receipts with a seq lower than an earlier one from the same sender
	unknown    int // received seqs never acknowledged
}

func (m *messageCheck) add(o messageCheck) {
	m.delivered += o.delivered
	m.lost += o.lost
	m.duplicated += o.duplicated
	m.outOfOrder += o.outOfOrder
	m.senderFIFO += o.senderFIFO
	m.unknown += o.unknown
}

func checkMessages(fs []emutest.Frame, channel string, acked []int64) messageCheck {
	var r messageCheck
	seen := map[int64]int{}
	var last int64
	lastFrom := map[string]int64{}
	for _, f := range fs {
		if f.Type != "message" || f.Channel != channel {
			continue
		}
		if f.Seq < last {
			r.outOfOrder++
		}
		if f.Seq < lastFrom[f.UserID] {
			r.senderFIFO++
		}
		last = max(last, f.Seq)
		lastFrom[f.UserID] = max(lastFrom[f.UserID], f.Seq)
		seen[f.Seq]++
	}
	want := map[int64]bool{}
	for _, s := range acked {
		want[s] = true
		switch n := seen[s]; {
		case n == 0:
			r.lost++
		default:
			r.delivered++
			r.duplicated += n - 1
		}
	}
	for s := range seen {
		if !want[s] {
			r.unknown++
		}
	}
	return r
}
