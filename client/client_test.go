package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastOptions shrink every timer so that faults resolve in milliseconds.
func fastOptions(user string) Options {
	return Options{
		Token:           func(context.Context) (string, error) { return user, nil },
		AckTimeout:      300 * time.Millisecond,
		GapTimeout:      40 * time.Millisecond,
		BackoffBase:     5 * time.Millisecond,
		BackoffMax:      80 * time.Millisecond,
		PingInterval:    time.Second,
		DialTimeout:     2 * time.Second,
		HistoryLimit:    20,
		MaxSendAttempts: 30,
	}
}

func dialT(t *testing.T, url string, o Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder keeps every event one subscription delivered.
type recorder struct {
	mu     sync.Mutex
	events []Event
	done   chan struct{}
}

func record(s *Subscription) *recorder {
	r := &recorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for e := range s.Events() {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// verdict is what the guarantees check found for one receiver and channel.
type verdict struct {
	deliveries, lost, duplicated, outOfOrder, discontinuities int
}

// check compares delivered events with the acked seqs: strictly increasing,
// each acked seq exactly once unless inside a reported discontinuity.
func check(events []Event, acked map[int64]bool) verdict {
	var v verdict
	seen := map[int64]int{}
	var last int64
	var holes []Discontinuity
	for _, e := range events {
		switch e.Type {
		case EventMessage:
			v.deliveries++
			seen[e.Message.Seq]++
			if seen[e.Message.Seq] > 1 {
				v.duplicated++
			} else if e.Message.Seq <= last {
				v.outOfOrder++
			}
			last = max(last, e.Message.Seq)
		case EventDiscontinuity:
			v.discontinuities++
			holes = append(holes, e.Discontinuity)
			last = max(last, e.Discontinuity.To)
		}
	}
	for seq := range acked {
		if seen[seq] == 0 && !inHoles(seq, holes) {
			v.lost++
		}
	}
	return v
}

func inHoles(seq int64, holes []Discontinuity) bool {
	for _, h := range holes {
		if seq >= h.From && seq <= h.To {
			return true
		}
	}
	return false
}

// waitAll waits until every recorder has every acked seq or the deadline.
func waitAll(recs []*recorder, acked map[int64]bool, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ok := true
		for _, r := range recs {
			if check(r.snapshot(), acked).lost > 0 {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// load is one fault test's traffic: senders × channels × messages each.
type load struct {
	senders, receivers, channels, messages int
	lifetime                               time.Duration // client MaxLifetime; 0 = default
	from0                                  bool          // receivers join with From(0)
	pace                                   time.Duration // pause between one sender's sends
}

type figures struct {
	acked, sendErrors int
	v                 verdict
	reconnects        int64
	handovers         int64
	retries           int64
}

// runLoad drives one fault scenario and returns its figures.
func runLoad(t *testing.T, srv *fakeServer, l load) figures {
	t.Helper()
	chans := make([]string, l.channels)
	for i := range chans {
		chans[i] = fmt.Sprintf("room-%d", i)
	}
	opts := func(user string) Options {
		o := fastOptions(user)
		o.MaxLifetime = l.lifetime
		return o
	}
	var recs = map[string][]*recorder{}
	var clients []*Client
	for i := range l.receivers {
		c := dialT(t, srv.url(), opts(fmt.Sprintf("reader-%d", i)))
		clients = append(clients, c)
		for _, ch := range chans {
			var jo []JoinOption
			if l.from0 {
				jo = append(jo, From(0))
			}
			s, err := c.Join(context.Background(), ch, jo...)
			if err != nil {
				t.Fatalf("receiver %d Join(%s): %v", i, ch, err)
			}
			recs[ch] = append(recs[ch], record(s))
		}
	}
	var mu sync.Mutex
	acked := map[string]map[int64]bool{}
	var f figures
	var wg sync.WaitGroup
	for i := range l.senders {
		c := dialT(t, srv.url(), opts(fmt.Sprintf("writer-%d", i)))
		clients = append(clients, c)
		for _, ch := range chans {
			if _, err := c.Join(context.Background(), ch); err != nil {
				t.Fatalf("sender %d Join(%s): %v", i, ch, err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range l.messages {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					seq, err := c.Send(ctx, ch, fmt.Sprintf("%s says %d", ch, n))
					cancel()
					time.Sleep(l.pace)
					mu.Lock()
					if err != nil {
						f.sendErrors++
						t.Errorf("Send: %v", err)
					} else {
						if acked[ch] == nil {
							acked[ch] = map[int64]bool{}
						}
						if acked[ch][seq] {
							t.Errorf("seq %d acked for two messages in %s", seq, ch)
						}
						acked[ch][seq] = true
						f.acked++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, ch := range chans {
		waitAll(recs[ch], acked[ch], 15*time.Second)
		for _, r := range recs[ch] {
			v := check(r.snapshot(), acked[ch])
			f.v.deliveries += v.deliveries
			f.v.lost += v.lost
			f.v.duplicated += v.duplicated
			f.v.outOfOrder += v.outOfOrder
			f.v.discontinuities += v.discontinuities
		}
	}
	for _, c := range clients {
		st := c.Stats()
		f.reconnects += st.Reconnects
		f.handovers += st.Handovers
		f.retries += st.SendRetries
	}
	return f
}

func TestFaults(t *testing.T) {
	base := load{senders: 2, receivers: 2, channels: 2, messages: 25}
	tests := []struct {
		name   string
		faults faults
		load   load
		// injected returns how often the fault happened, which must be > 0:
		// a pass with no fault injected would prove nothing.
		injected func(counts, figures) int
	}{
		{"drop", faults{Drop: 0.04}, base, func(c counts, _ figures) int { return c.Drops }},
		{"reorder", faults{Reorder: 0.3}, base, func(c counts, _ figures) int { return c.Reorders }},
		{"duplicate", faults{Duplicate: 0.3}, base, func(c counts, _ figures) int { return c.Duplicates }},
		{"gap", faults{Gap: 0.2}, base, func(c counts, _ figures) int { return c.Gaps }},
		{"slow-store", faults{SlowStore: 0.3}, base, func(c counts, _ figures) int { return c.SlowStores }},
		{"internal", faults{Internal: 0.3}, base, func(c counts, _ figures) int { return c.Internals }},
		{"rate-limited", faults{RateLimit: 0.3}, base, func(c counts, _ figures) int { return c.RateLimits }},
		{"ack-timeout", faults{AckDelay: 0.15, AckDelayBy: 400 * time.Millisecond}, base,
			func(c counts, _ figures) int { return c.AckDelays }},
		{"handover", faults{}, load{senders: 2, receivers: 2, channels: 2, messages: 40, lifetime: 120 * time.Millisecond, pace: 10 * time.Millisecond},
			func(_ counts, f figures) int { return int(f.handovers) }},
		{"lifetime-cut", faults{MaxLifetime: 150 * time.Millisecond}, load{senders: 2, receivers: 2, channels: 2, messages: 40, pace: 10 * time.Millisecond}, func(c counts, _ figures) int { return c.Cuts }},
		{"all", faults{Drop: 0.02, Reorder: 0.2, Duplicate: 0.2, Gap: 0.1, SlowStore: 0.1, Internal: 0.1, RateLimit: 0.1,
			AckDelay: 0.05, AckDelayBy: 400 * time.Millisecond},
			load{senders: 3, receivers: 2, channels: 2, messages: 30, lifetime: 300 * time.Millisecond, pace: 5 * time.Millisecond},
			func(c counts, f figures) int { return min(c.Drops, c.Reorders, c.Gaps, c.Internals, int(f.handovers)) }},
		{"old-server", faults{OmitProtocolAddition: true, Reorder: 0.2, Duplicate: 0.2, Gap: 0.1, Drop: 0.02},
			load{senders: 2, receivers: 2, channels: 2, messages: 25, from0: true},
			func(c counts, _ figures) int { return c.Gaps }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, tc.faults)
			start := time.Now()
			f := runLoad(t, srv, tc.load)
			c := srv.stats()
			fmt.Printf("FIGURES fault=%s acked=%d deliveries=%d lost=%d duplicated=%d out_of_order=%d discontinuities=%d "+
				"reconnects=%d handovers=%d send_retries=%d injected=%d duration=%s server=%+v\n",
				tc.name, f.acked, f.v.deliveries, f.v.lost, f.v.duplicated, f.v.outOfOrder, f.v.discontinuities,
				f.reconnects, f.handovers, f.retries, tc.injected(c, f), time.Since(start).Round(time.Millisecond), c)
			if f.v.lost != 0 || f.v.duplicated != 0 || f.v.outOfOrder != 0 || f.sendErrors != 0 {
				t.Errorf("got lost=%d duplicated=%d out_of_order=%d send_errors=%d, want all 0",
					f.v.lost, f.v.duplicated, f.v.outOfOrder, f.sendErrors)
			}
			want := tc.load.senders * tc.load.channels * tc.load.messages
			if f.acked != want {
				t.Errorf("got %d acked, want %d", f.acked, want)
			}
			if tc.injected(c, f) == 0 {
				t.Errorf("fault %s never happened (%+v): the run proves nothing", tc.name, c)
			}
		})
	}
}

// TestMessagesSayWhoSentThem: a backend's message carries From and the
// backend's user id next to its name, live and from history, and a user's
// own does not: an application tells the two apart by them, whatever the
// names (issue #25: a user renamed "Orders" looked like the backend).
func TestMessagesSayWhoSentThem(t *testing.T) {
	srv := newFakeServer(t, faults{})
	srv.post("general", "from history")
	c := dialT(t, srv.url(), fastOptions("Orders"))
	s, err := c.Join(context.Background(), "general", From(0))
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	r := record(s)
	srv.post("general", "live")
	if _, err := c.Send(context.Background(), "general", "a user named like the backend"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var got []string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && len(got) < 3; time.Sleep(10 * time.Millisecond) {
		got = got[:0]
		for _, e := range r.snapshot() {
			if e.Type == EventMessage {
				m := e.Message
				got = append(got, fmt.Sprintf("%s/%s/%s/%v", m.From, m.UserID, m.UserName, m.IsBackend()))
			}
		}
	}
	want := []string{"server/server/Orders/true", "server/server/Orders/true", "/Orders/Orders/false"}
	if !slices.Equal(got, want) {
		t.Errorf("messages (from/userId/userName/backend) = %v, want %v", got, want)
	}
}

// TestOwnMessageAsStored: when the server stores a send's text other than
// it was sent (a before-send hook replaced it), the sender's own message
// reads as stored, as everyone else's copy does, not as it typed it.
func TestOwnMessageAsStored(t *testing.T) {
	srv := newFakeServer(t, faults{Mask: "darn"})
	c := dialT(t, srv.url(), fastOptions("Ann"))
	s, err := c.Join(context.Background(), "general", From(0))
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	r := record(s)
	for _, text := range []string{"darn it", "fine"} {
		if _, err := c.Send(context.Background(), "general", text); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	var got []string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && len(got) < 2; time.Sleep(10 * time.Millisecond) {
		got = got[:0]
		for _, e := range r.snapshot() {
			if e.Type == EventMessage {
				got = append(got, e.Message.Text)
			}
		}
	}
	if want := []string{"**** it", "fine"}; !slices.Equal(got, want) {
		t.Errorf("own messages %q, want %q", got, want)
	}
}

// TestDiscontinuity: history past retention is reported as a hole with its
// bounds, and the stream carries on after it.
func TestDiscontinuity(t *testing.T) {
	srv := newFakeServer(t, faults{})
	for i := range 10 {
		srv.post("general", fmt.Sprintf("old %d", i))
	}
	srv.expire("general", 6)
	c := dialT(t, srv.url(), fastOptions("ann"))
	s, err := c.Join(context.Background(), "general", From(2))
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	srv.post("general", "new")
	r := record(s)
	want := "discontinuity 3-5, 6, 7, 8, 9, 10, 11"
	var got string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = describe(r.snapshot()); got == want {
			break
		}
	}
	var holes []string
	for _, e := range r.snapshot() {
		if e.Type == EventDiscontinuity {
			holes = append(holes, fmt.Sprintf("%d-%d", e.Discontinuity.From, e.Discontinuity.To))
		}
	}
	fmt.Printf("FIGURES fault=truncated-history discontinuities=%d holes=%s events=%q\n", len(holes), strings.Join(holes, ","), got)
	if got != want {
		t.Errorf("got events %q, want %q", got, want)
	}
}

func describe(events []Event) string {
	var parts []string
	for _, e := range events {
		switch e.Type {
		case EventMessage:
			parts = append(parts, fmt.Sprint(e.Message.Seq))
		case EventDiscontinuity:
			parts = append(parts, fmt.Sprintf("discontinuity %d-%d", e.Discontinuity.From, e.Discontinuity.To))
		}
	}
	return strings.Join(parts, ", ")
}

// TestResumeAfterOffline: a client that was away catches up from its last
// seq through several history pages, in order.
func TestResumeAfterOffline(t *testing.T) {
	srv := newFakeServer(t, faults{})
	for i := range 95 {
		srv.post("general", fmt.Sprintf("m%d", i))
	}
	c := dialT(t, srv.url(), fastOptions("ann"))
	s, err := c.Join(context.Background(), "general", From(40))
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	r := record(s)
	var got []int64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && len(got) < 55; time.Sleep(10 * time.Millisecond) {
		got = got[:0]
		for _, e := range r.snapshot() {
			if e.Type == EventMessage {
				got = append(got, e.Message.Seq)
			}
		}
	}
	if len(got) != 55 || got[0] != 41 || got[54] != 95 || !sort.SliceIsSorted(got, func(i, j int) bool { return got[i] < got[j] }) {
		t.Errorf("got %d messages %v…, want 41..95 in order", len(got), got[:min(3, len(got))])
	}
	if s.Last() != 95 {
		t.Errorf("got Last %d, want 95", s.Last())
	}
}

// Another member's joined can reach a joiner before its own (both are
// members by then) and carries a later lastSeq: the join must complete only
// on the frame with its own ref, or the messages in between would be
// skipped as "before the start".
func TestJoinIgnoresAnotherMembersConcurrentJoin(t *testing.T) {
	srv := newFakeServer(t, faults{ForeignJoinFirst: true})
	for i := range 3 {
		srv.post("general", fmt.Sprintf("old%d", i))
	}
	c := dialT(t, srv.url(), fastOptions("ann"))
	s, err := c.Join(context.Background(), "general")
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	r := record(s)
	for i := range 6 {
		srv.post("general", fmt.Sprintf("new%d", i))
	}
	var got []int64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && len(got) < 6; time.Sleep(10 * time.Millisecond) {
		got = got[:0]
		for _, e := range r.snapshot() {
			if e.Type == EventMessage {
				got = append(got, e.Message.Seq)
			}
		}
	}
	if want := []int64{4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("after the join, got seqs %v, want %v (the intruder's lastSeq 8 must not be the start)", got, want)
	}
}

func TestTokenFailuresStop(t *testing.T) {
	srv := newFakeServer(t, faults{RefuseToken: "mallory"})
	tests := []struct {
		name    string
		token   func(context.Context) (string, error)
		inQuery bool
		want    error
	}{
		{"refused", func(context.Context) (string, error) { return "mallory", nil }, false, ErrUnauthorized},
		{"refused in query", func(context.Context) (string, error) { return "mallory", nil }, true, ErrUnauthorized},
		{"provider", func(context.Context) (string, error) { return "", errors.New("issuer down") }, false, ErrToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := fastOptions("")
			o.Token = tc.token
			o.TokenInQuery = tc.inQuery
			var states []string
			var mu sync.Mutex
			o.OnState = func(sc StateChange) {
				mu.Lock()
				defer mu.Unlock()
				states = append(states, sc.To.String())
			}
			start := time.Now()
			c, err := Dial(context.Background(), srv.url(), o)
			if !errors.Is(err, tc.want) || c != nil {
				t.Fatalf("got Dial = %v, %v, want nil, %v", c, err, tc.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Dial took %s, want it to stop at once", d)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(states) == 0 || states[len(states)-1] != "closed" {
				t.Errorf("got states %v, want them to end in closed", states)
			}
		})
	}
}

// TestTokenRefusedLater: a token refused on a reconnect stops the client
// with ErrUnauthorized and fails pending sends instead of retrying forever.
func TestTokenRefusedLater(t *testing.T) {
	srv := newFakeServer(t, faults{})
	c := dialT(t, srv.url(), fastOptions("ann"))
	if _, err := c.Join(context.Background(), "general"); err != nil {
		t.Fatalf("Join: %v", err)
	}
	srv.setFaults(faults{RefuseToken: "ann"})
	srv.dropAll()
	deadline := time.Now().Add(3 * time.Second)
	for c.State() != StateClosed && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(c.Err(), ErrUnauthorized) {
		t.Errorf("got Err %v, want ErrUnauthorized", c.Err())
	}
	if _, err := c.Send(context.Background(), "general", "hi"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("got Send error %v, want ErrUnauthorized", err)
	}
}

func TestBadInput(t *testing.T) {
	srv := newFakeServer(t, faults{})
	c := dialT(t, srv.url(), fastOptions("ann"))
	if _, err := c.Join(context.Background(), "general"); err != nil {
		t.Fatalf("Join: %v", err)
	}
	ctx := context.Background()
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"oversized text", func() error { _, err := c.Send(ctx, "general", strings.Repeat("é", MaxTextRunes+1)); return err }, ErrTextTooLong},
		{"blank text", func() error { _, err := c.Send(ctx, "general", " \n\t"); return err }, ErrInvalid},
		{"invalid utf-8", func() error { _, err := c.Send(ctx, "general", "a\xffb"); return err }, ErrInvalid},
		{"not joined", func() error { _, err := c.Send(ctx, "random", "hi"); return err }, ErrNotJoined},
		{"bad channel", func() error { _, err := c.Join(ctx, "Bad Channel"); return err }, ErrInvalid},
		{"joined twice", func() error { _, err := c.Join(ctx, "general"); return err }, ErrAlreadyJoined},
		{"members not joined", func() error { _, err := c.Members(ctx, "random", ""); return err }, ErrNotJoined},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if seq, err := c.Send(ctx, "general", strings.Repeat("é", MaxTextRunes)); err != nil || seq != 1 {
		t.Errorf("got Send at the limit = %d, %v, want 1, nil", seq, err)
	}
	c.Close()
	if _, err := c.Send(ctx, "general", "hi"); !errors.Is(err, ErrClosed) {
		t.Errorf("got Send after Close %v, want ErrClosed", err)
	}
	if _, err := c.Join(ctx, "other"); !errors.Is(err, ErrClosed) {
		t.Errorf("got Join after Close %v, want ErrClosed", err)
	}
}

// TestOutboxFull: with the server not answering, sends pile up to the
// bound, then fail at once with ErrOutboxFull; Close fails the pending ones.
func TestOutboxFull(t *testing.T) {
	srv := newFakeServer(t, faults{})
	o := fastOptions("ann")
	o.OutboxSize = 3
	c := dialT(t, srv.url(), o)
	if _, err := c.Join(context.Background(), "general"); err != nil {
		t.Fatalf("Join: %v", err)
	}
	srv.setFaults(faults{Silent: true})
	errs := make(chan error, 3)
	for i := range 3 {
		go func() { _, err := c.Send(context.Background(), "general", fmt.Sprint("m", i)); errs <- err }()
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && pending(c) < 3; {
		time.Sleep(time.Millisecond)
	}
	_, err := c.Send(context.Background(), "general", "one too many")
	if !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("got %v, want ErrOutboxFull", err)
	}
	c.Close()
	for range 3 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Errorf("got pending Send error %v, want ErrClosed", err)
		}
	}
}

func TestMembersPagingAndPresence(t *testing.T) {
	srv := newFakeServer(t, faults{})
	ann := dialT(t, srv.url(), fastOptions("ann"))
	s, err := ann.Join(context.Background(), "general")
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	r := record(s)
	for _, u := range []string{"bob", "cy"} {
		c := dialT(t, srv.url(), fastOptions(u))
		if _, err := c.Join(context.Background(), "general"); err != nil {
			t.Fatalf("Join %s: %v", u, err)
		}
	}
	var users []string
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		p, err := ann.Members(context.Background(), "general", cursor)
		if err != nil {
			t.Fatalf("Members: %v", err)
		}
		for _, m := range p.Members {
			users = append(users, m.UserID)
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if got := strings.Join(users, ","); got != "ann,bob,cy" {
		t.Errorf("got members %q, want ann,bob,cy", got)
	}
	var joined []string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && len(joined) < 3; time.Sleep(5 * time.Millisecond) {
		joined = joined[:0]
		for _, e := range r.snapshot() {
			if e.Type == EventJoined {
				joined = append(joined, e.Presence.UserID)
			}
		}
	}
	if got := strings.Join(joined, ","); got != "ann,bob,cy" {
		t.Errorf("got joined events %q, want ann,bob,cy", got)
	}
}

func TestStatesAndLeave(t *testing.T) {
	srv := newFakeServer(t, faults{})
	var mu sync.Mutex
	var got []string
	o := fastOptions("ann")
	o.OnState = func(sc StateChange) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, sc.To.String())
	}
	c := dialT(t, srv.url(), o)
	s, err := c.Join(context.Background(), "general")
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	srv.dropAll()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && c.Stats().Connects < 2; {
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Leave(context.Background()); err != nil {
		t.Errorf("Leave: %v", err)
	}
	if _, ok := <-s.Events(); ok {
		// Events may still drain; the stream must end.
		for range s.Events() {
		}
	}
	if !errors.Is(s.Err(), ErrLeft) {
		t.Errorf("got Err %v, want ErrLeft", s.Err())
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if want := "connected,reconnecting,connected,closed"; strings.Join(got, ",") != want {
		t.Errorf("got states %v, want %s", got, want)
	}
}

// TestSendGivesUp: a send never acked fails with ErrSendFailed after
// MaxSendAttempts, so nothing handed to Send disappears silently.
func TestSendGivesUp(t *testing.T) {
	srv := newFakeServer(t, faults{})
	o := fastOptions("ann")
	o.AckTimeout = 30 * time.Millisecond
	o.MaxSendAttempts = 3
	c := dialT(t, srv.url(), o)
	if _, err := c.Join(context.Background(), "general"); err != nil {
		t.Fatalf("Join: %v", err)
	}
	srv.setFaults(faults{Silent: true})
	_, err := c.Send(context.Background(), "general", "into the void")
	if !errors.Is(err, ErrSendFailed) {
		t.Errorf("got %v, want ErrSendFailed", err)
	}
	if got := c.Stats().SendRetries; got != 3 {
		t.Errorf("got %d send retries, want 3", got)
	}
}

func pending(c *Client) int {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return len(c.out.q)
}

// TestKeepAlive: pings go out every PingInterval while nothing is sent,
// and a connection that stops answering them is replaced. The timeout is
// generous: a pong late on a loaded machine must not look like a dead
// connection (60 ms did, under a CPU hog).
func TestKeepAlive(t *testing.T) {
	srv := newFakeServer(t, faults{})
	o := fastOptions("ann")
	o.PingInterval = 30 * time.Millisecond
	o.HeartbeatTimeout = time.Second
	c := dialT(t, srv.url(), o)
	waitFor(t, 3*time.Second, "three keep-alive pings", func() bool { return srv.stats().Pings >= 3 })
	if got := c.Stats().Reconnects; got != 0 {
		t.Errorf("got %d reconnects with pongs answered, want 0", got)
	}
	srv.setFaults(faults{NoPong: true})
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && c.Stats().Reconnects == 0; {
		time.Sleep(5 * time.Millisecond)
	}
	if got := c.Stats().Reconnects; got == 0 {
		t.Errorf("got no reconnect after pongs stopped, want the dead connection replaced")
	}
}

// TestSendContextEnds: a message never sent is withdrawn when Send's
// context ends; one already sent stays in the outbox (ErrOutcomeUnknown)
// and is still delivered once the server answers.
func TestSendContextEnds(t *testing.T) {
	srv := newFakeServer(t, faults{})
	c := dialT(t, srv.url(), fastOptions("ann"))
	if _, err := c.Join(context.Background(), "general"); err != nil {
		t.Fatalf("Join: %v", err)
	}
	srv.setFaults(faults{Silent: true})
	ctx1, cancel1 := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel1()
	first := make(chan error, 1)
	go func() { _, err := c.Send(ctx1, "general", "in flight"); first <- err }()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && pending(c) == 0; {
		time.Sleep(time.Millisecond)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := c.Send(ctx2, "general", "queued"); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("got queued Send error %v, want context.DeadlineExceeded alone", err)
	}
	if err := <-first; !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("got in-flight Send error %v, want ErrOutcomeUnknown", err)
	}
	if got := pending(c); got != 1 {
		t.Errorf("got %d pending, want 1 (the in-flight message kept, the queued one withdrawn)", got)
	}
	srv.setFaults(faults{})
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && pending(c) > 0; {
		time.Sleep(5 * time.Millisecond)
	}
	if got := pending(c); got != 0 {
		t.Errorf("got %d pending after the server recovered, want 0", got)
	}
}
