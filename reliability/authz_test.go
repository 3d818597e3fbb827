package reliability

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/client"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/publisher"
)

// TestReliabilityAuthz proves issue #21's guarantees end to end on the dev
// template: real WebSocket clients, the publish API signed through the
// emulator's SigV4 check, the handlers, the expiry function on its
// schedule (every 500 ms here) and dynalite. The handlers run with a grace
// of 1 s (authzFunctionEnv) so that expiry takes seconds.
func TestReliabilityAuthz(t *testing.T) {
	e := startEmulator(t, emutest.Options{PostLatency: 20 * time.Millisecond, FunctionEnv: authzFunctionEnv,
		Args: []string{"--schedule-interval", "500ms"}})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	stage := e.WebSocketURL[strings.LastIndexByte(e.WebSocketURL, '/')+1:]
	pub, err := publisher.New(publisher.Options{Endpoint: e.BaseURL + "/@http/" + stage, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a removed member receives nothing more within 1 s of the answer", func(t *testing.T) { authzRemoval(ctx, t, e, pub) })
	t.Run("an expired connection receives nothing after its grace and is closed", func(t *testing.T) { authzExpiry(ctx, t, e, pub) })
	t.Run("a revoked user is closed and cannot come back with the old token", func(t *testing.T) { authzRevocation(ctx, t, e, pub) })
	t.Run("a renewed connection keeps its subscriptions, nothing lost or repeated", func(t *testing.T) { authzRenewal(ctx, t, e, pub) })
	t.Run("the channel list shows private channels and direct messages, not a channel one was taken off", func(t *testing.T) {
		authzChannelList(ctx, t, e, pub)
	})
}

// publishEvery has a backend publish to channel every period until stop
// (a backend is not held to a connection's 5 requests a second), and
// returns when each publish was answered, in order.
func publishEvery(ctx context.Context, t *testing.T, pub *publisher.Client, channel string, period time.Duration, stop <-chan struct{}) <-chan []time.Time {
	out := make(chan []time.Time, 1)
	go func() {
		var acked []time.Time
		defer func() { out <- acked }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(period):
			}
			if _, err := pub.Publish(ctx, channel, fmt.Sprintf("%s-%d", channel, i), "tick"); err != nil {
				t.Errorf("publish to %s: %v", channel, err)
				return
			}
			acked = append(acked, time.Now())
		}
	}()
	return out
}

// closedAt reports when c's connection ends.
func closedAt(c *emutest.Client) func() time.Time {
	var mu sync.Mutex
	var at time.Time
	go func() {
		<-c.Done()
		mu.Lock()
		at = time.Now()
		mu.Unlock()
	}()
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at
	}
}

// receivedWithID counts the message frames of channel that reached c
// with a clientId (a publish's id) starting with prefix.
func receivedWithID(c *emutest.Client, channel, prefix string) int {
	n := 0
	for _, f := range c.Frames() {
		if f.Type == "message" && f.Channel == channel && strings.HasPrefix(f.ClientID, prefix) {
			n++
		}
	}
	return n
}

// publishN publishes n messages to channel one after another, with ids
// prefix-0…, and returns when the last was answered.
func publishN(ctx context.Context, t *testing.T, pub *publisher.Client, channel, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := pub.Publish(ctx, channel, fmt.Sprintf("%s%d", prefix, i), "tick"); err != nil {
			t.Fatal(err)
		}
	}
}

// lastReceipt is when the last message frame of channel reached c (zero
// when none did) and how many did after t.
func lastReceipt(c *emutest.Client, channel string, t time.Time) (time.Time, int) {
	var last time.Time
	n := 0
	for _, f := range c.Frames() {
		if f.Type == "message" && f.Channel == channel {
			last = f.Received
			if f.Received.After(t) {
				n++
			}
		}
	}
	return last, n
}

func authzRemoval(ctx context.Context, t *testing.T, e *emutest.Emulator, pub *publisher.Client) {
	if _, err := pub.CreatePrivate(ctx, "board", publisher.ListedMember{UserID: "rm-ann"}, publisher.ListedMember{UserID: "rm-bob"}); err != nil {
		t.Fatal(err)
	}
	ann, bob := dialAs(ctx, t, e, "rm-ann", mustToken(ctx, t, e, "rm-ann")), dialAs(ctx, t, e, "rm-bob", mustToken(ctx, t, e, "rm-bob"))
	for _, c := range []*emutest.Client{ann, bob} {
		if err := c.Join(ctx, "board"); err != nil {
			t.Fatal(err)
		}
	}
	// Messages are in flight while the removal runs, and 15 more are
	// published after its answer.
	stop := make(chan struct{})
	acks := publishEvery(ctx, t, pub, "board", 40*time.Millisecond, stop)
	time.Sleep(time.Second)
	res, err := pub.RemoveMember(ctx, "board", "rm-bob")
	answered := time.Now()
	close(stop)
	if err != nil || !res.Removed || res.Connections != 1 {
		t.Fatalf("RemoveMember = %+v, %v; want removed, 1 connection", res, err)
	}
	sent := <-acks
	const after = 15
	publishN(ctx, t, pub, "board", "after-", after)
	time.Sleep(time.Second)
	before, _ := lastReceipt(bob, "board", time.Time{})
	last, late := lastReceipt(bob, "board", answered)
	_, tooLate := lastReceipt(bob, "board", answered.Add(time.Second))
	afterIDs := receivedWithID(bob, "board", "after-")
	removedEvent := false
	for _, f := range bob.Frames() {
		removedEvent = removedEvent || (f.Type == "removed" && f.Channel == "board")
	}
	fmt.Printf("FIGURES authz removal: messages published %d before and during the removal, %d after its answer; the removed member received %d of the latter, %d frames after the answer (last %+d ms from it), %d after answer+1s; removed event %v\n",
		len(sent), after, afterIDs, late, last.Sub(answered).Milliseconds(), tooLate, removedEvent)
	if tooLate != 0 || afterIDs != 0 || before.IsZero() || !removedEvent {
		t.Errorf("after answer+1s %d (want 0), published after the answer and received %d (want 0), received before %v, removed event %v",
			tooLate, afterIDs, !before.IsZero(), removedEvent)
	}
	if got := answerOf(ctx, bob, map[string]any{"action": "join", "channel": "board"}, "joined"); got != "forbidden" {
		t.Errorf("the removed member joins again: %s, want forbidden", got)
	}
}

// tokenExp reads a token's exp.
func tokenExp(t *testing.T, tok string) time.Time {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct{ Exp int64 }
	if err != nil || json.Unmarshal(b, &c) != nil {
		t.Fatalf("token payload: %v", err)
	}
	return time.Unix(c.Exp, 0)
}

func mustToken(ctx context.Context, t *testing.T, e *emutest.Emulator, user string) string {
	t.Helper()
	tok, err := e.Token(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func authzExpiry(ctx context.Context, t *testing.T, e *emutest.Emulator, pub *publisher.Client) {
	short, err := e.TokenTTL(ctx, "ex-carol", nil, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	until := tokenExp(t, short).Add(authzGrace)
	carol := dialAs(ctx, t, e, "ex-carol", short)
	closed := closedAt(carol)
	if err := carol.Join(ctx, "expiring"); err != nil {
		t.Fatal(err)
	}
	// Messages flow up to the grace's end, then 10 more are published.
	stop := make(chan struct{})
	acks := publishEvery(ctx, t, pub, "expiring", 40*time.Millisecond, stop)
	time.Sleep(time.Until(until))
	close(stop)
	sent := <-acks
	const after = 10
	publishN(ctx, t, pub, "expiring", "late-", after)
	time.Sleep(500 * time.Millisecond)
	afterIDs := receivedWithID(carol, "expiring", "late-")
	// A message fanned out just before until may land a moment after it.
	_, late := lastReceipt(carol, "expiring", until.Add(time.Second))
	last, _ := lastReceipt(carol, "expiring", time.Time{})
	var closedAfter time.Duration = -1
	select {
	case <-carol.Done():
		closedAfter = closed().Sub(until)
	case <-time.After(5 * time.Second):
	}
	toldExpired := false
	for _, f := range carol.Frames() {
		toldExpired = toldExpired || (f.Type == "error" && f.Code == "token_expired")
	}
	fmt.Printf("FIGURES authz expiry: grace %s; messages published %d before the grace's end, %d after it; the expired connection received %d of the latter, its last message %+d ms from the grace's end, %d frames after it + 1 s; told token_expired %v; closed (idle: by the expiry function, run every 500 ms here) %v after the grace\n",
		authzGrace, len(sent), after, afterIDs, last.Sub(until).Milliseconds(), late, toldExpired, closedAfter.Round(time.Millisecond))
	if afterIDs != 0 || late != 0 || last.IsZero() || !toldExpired || closedAfter < 0 {
		t.Errorf("published after the grace and received %d (want 0), frames after grace+1s %d (want 0), received any %v, told %v, closed %v",
			afterIDs, late, !last.IsZero(), toldExpired, closedAfter >= 0)
	}
}

func authzRevocation(ctx context.Context, t *testing.T, e *emutest.Emulator, pub *publisher.Client) {
	old := mustToken(ctx, t, e, "rv-erin")
	erin := dialAs(ctx, t, e, "rv-erin", old)
	if err := erin.Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the revocation's second is after the token's iat
	res, err := pub.Revoke(ctx, "rv-erin", time.Time{})
	answered := time.Now()
	if err != nil || res.Closed != 1 {
		t.Fatalf("Revoke = %+v, %v; want 1 closed", res, err)
	}
	var closedIn time.Duration = -1
	select {
	case <-erin.Done():
		closedIn = time.Since(answered)
	case <-time.After(5 * time.Second):
	}
	told := false
	for _, f := range erin.Frames() {
		told = told || (f.Type == "error" && f.Code == "token_revoked")
	}
	c, status := dialStatus(ctx, e, "rv-erin", old)
	if c != nil {
		_ = c.CloseNow()
	}
	time.Sleep(1100 * time.Millisecond)
	fresh, freshStatus := dialStatus(ctx, e, "rv-erin", mustToken(ctx, t, e, "rv-erin"))
	if fresh != nil {
		_ = fresh.CloseNow()
	}
	fmt.Printf("FIGURES authz revocation: closed %v after the answer (told token_revoked %v); the old token's reconnect answered %s; a token issued after the revocation connects: %s\n",
		closedIn.Round(time.Millisecond), told, status, freshStatus)
	if closedIn < 0 || !told || status != "401" || freshStatus != "101" {
		t.Errorf("closed %v, told %v, old token %s (want 401), new token %s (want 101)", closedIn >= 0, told, status, freshStatus)
	}
}

func authzRenewal(ctx context.Context, t *testing.T, e *emutest.Emulator, pub *publisher.Client) {
	var minted atomic.Int64
	var mu sync.Mutex
	var renewed []time.Time
	c, err := client.Dial(ctx, e.WebSocketURL, client.Options{
		Token: func(ctx context.Context) (string, error) {
			minted.Add(1)
			return e.TokenTTL(ctx, "rn-gus", nil, 3*time.Second)
		},
		OnState: func(s client.StateChange) {
			if s.Reason == "token renewed in-band" {
				mu.Lock()
				renewed = append(renewed, s.At)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err := c.Join(ctx, "renewal")
	if err != nil {
		t.Fatal(err)
	}
	d := &delivery{}
	go func() {
		for ev := range sub.Events() {
			if ev.Type == client.EventMessage {
				d.mu.Lock()
				d.seqs = append(d.seqs, ev.Message.Seq)
				d.mu.Unlock()
			}
		}
	}()
	var acked []int64
	start := time.Now()
	// At least 100 messages and 7 s: two renewals at least of 3-s tokens.
	for i := 0; i < 100 || time.Since(start) < 7*time.Second; i++ {
		res, err := pub.Publish(ctx, "renewal", fmt.Sprintf("rn-%d", i), "tick")
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, res.Seq)
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	if err := poll(ctx, 30*time.Second, func() (bool, error) { return checkDelivery(d, acked).lost == 0, nil }); err != nil {
		t.Errorf("not every message arrived: %v", err)
	}
	f := checkDelivery(d, acked)
	st := c.Stats()
	mu.Lock()
	n := len(renewed)
	mu.Unlock()
	fmt.Printf("FIGURES authz renewal: tokens of 3 s, grace 1 s, %d messages over %s: acked %d, deliveries %d, lost %d, duplicated %d, out of order %d; renewals %d (stats %d), connects %d, reconnects %d, handovers %d, tokens minted %d\n",
		len(acked), took.Round(100*time.Millisecond), len(acked), f.deliveries, f.lost, f.duplicated, f.outOfOrder,
		n, st.Renewals, st.Connects, st.Reconnects, st.Handovers, minted.Load())
	if f.lost+f.duplicated+f.outOfOrder != 0 || st.Renewals < 2 || st.Reconnects != 0 || st.Connects != 1 {
		t.Errorf("lost %d, duplicated %d, out of order %d, renewals %d (want >= 2), connects %d, reconnects %d (want 1, 0)",
			f.lost, f.duplicated, f.outOfOrder, st.Renewals, st.Connects, st.Reconnects)
	}
}

// authzChannelList: through the Go SDK, the channel list of a user shows a
// direct message another user opened (with that user's id and name, and
// the unread message) and a private channel the user is listed on, neither
// joined yet; once a backend takes the user off the private channel it is
// gone from the list, though the user had joined it.
func authzChannelList(ctx context.Context, t *testing.T, e *emutest.Emulator, pub *publisher.Client) {
	dial := func(user string) *client.Client {
		c, err := client.Dial(ctx, e.WebSocketURL, client.Options{
			Token: func(ctx context.Context) (string, error) { return e.Token(ctx, user) }, AckTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("dial %s: %v", user, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ann, bob := dial("cl-ann"), dial("cl-bob")
	if _, err := pub.CreatePrivate(ctx, "cl-board", publisher.ListedMember{UserID: "cl-bob"}); err != nil {
		t.Fatal(err)
	}
	dm, err := ann.OpenDirect(ctx, "cl-bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Send(ctx, dm.Channel(), "hello bob"); err != nil {
		t.Fatal(err)
	}
	list, err := bob.Channels(ctx)
	byName := map[string]client.ChannelInfo{}
	for _, c := range list {
		byName[c.Channel] = c
	}
	d, b := byName[dm.Channel()], byName["cl-board"]
	if err != nil || len(list) != 2 || !d.Private || d.PeerID != "cl-ann" || d.PeerName != "cl-ann" || d.Unread != 1 ||
		d.Last == nil || d.Last.Text != "hello bob" || !b.Private || b.PeerID != "" {
		t.Fatalf("bob's Channels = %+v, %v; want the DM with cl-ann (1 unread) and cl-board, both private", list, err)
	}
	if _, err := bob.Join(ctx, "cl-board"); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.RemoveMember(ctx, "cl-board", "cl-bob"); err != nil {
		t.Fatal(err)
	}
	list, err = bob.Channels(ctx)
	if err != nil || len(list) != 1 || list[0].Channel != dm.Channel() {
		t.Errorf("bob's Channels after his removal from cl-board = %+v, %v; want the DM only", list, err)
	}
	fmt.Printf("FIGURES authz channel list: a DM opened by the other user listed with its name and 1 unread, a private channel listed before any join, gone after the removal (%d entries)\n", len(list))
}
