package reliability

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/client"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/publisher"
	"github.com/wschat/wschat/wire"
)

// TestReliabilityModeration proves moderation end to end on the dev
// template with the Go SDK and the publisher: a backend names a moderator;
// the moderator mutes a user (whose send is refused with "muted" while it
// still receives), deletes another's message (every client's model
// converges on the tombstone), and bans a user (removed at once, its
// rejoin refused with "banned" until unbanned); every client sees each
// action as an EventModeration in its stream, and a late joiner replays
// them from history.
func TestReliabilityModeration(t *testing.T) {
	e := startEmulator(t, emutest.Options{PostLatency: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	stage := e.WebSocketURL[strings.LastIndexByte(e.WebSocketURL, '/')+1:]
	pub, err := publisher.New(publisher.Options{Endpoint: e.BaseURL + "/@http/" + stage, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if err != nil {
		t.Fatal(err)
	}
	dial := func(user string) *client.Client {
		c, err := client.Dial(ctx, e.WebSocketURL, client.Options{
			Token: func(ctx context.Context) (string, error) { return e.Token(ctx, user) }, AckTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("dial %s: %v", user, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	const ch = "townhall"
	if _, err := pub.SetRole(ctx, ch, "th-mod", wire.RoleModerator, "role-1"); err != nil {
		t.Fatal(err)
	}
	mod, ann, bob := dial("th-mod"), dial("th-ann"), dial("th-bob")
	subs := map[string]*client.Subscription{}
	for name, c := range map[string]*client.Client{"mod": mod, "ann": ann, "bob": bob} {
		s, err := c.Join(ctx, ch, client.From(0))
		if err != nil {
			t.Fatal(err)
		}
		subs[name] = s
	}

	// Mute: bob's send is refused, and he still receives.
	start := time.Now()
	if _, err := mod.Mute(ctx, ch, "th-bob", time.Minute, "cool off"); err != nil {
		t.Fatal(err)
	}
	_, err = bob.Send(ctx, ch, "can I still talk?")
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != string(wire.CodeMuted) {
		t.Fatalf("muted send = %v, want a ServerError muted", err)
	}
	annSeq, err := ann.Send(ctx, ch, "a message to delete")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitMessage(ctx, subs["bob"], annSeq, func(m client.Message) bool { return !m.Deleted }); err != nil {
		t.Fatalf("muted bob does not receive: %v", err)
	}

	// A moderator deletes another's message: every client converges.
	if _, err := mod.Delete(ctx, ch, annSeq); err != nil {
		t.Fatalf("moderator's delete: %v", err)
	}
	for name, s := range subs {
		if err := waitMessage(ctx, s, annSeq, func(m client.Message) bool { return m.Deleted && m.Text == "" }); err != nil {
			t.Errorf("%s's model of message %d: %v", name, annSeq, err)
		}
	}
	converged := time.Since(start)

	// Ban: ann's subscription ends (removed), her rejoin is refused until unbanned.
	if _, err := pub.Ban(ctx, ch, "th-ann", "spam", "ban-1"); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); subs["ann"].Err() == nil && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(subs["ann"].Err(), client.ErrRemoved) {
		t.Errorf("banned subscription's Err = %v, want ErrRemoved", subs["ann"].Err())
	}
	_, err = ann.Join(ctx, ch)
	if !errors.As(err, &se) || se.Code != string(wire.CodeBanned) {
		t.Errorf("banned rejoin = %v, want a ServerError banned", err)
	}
	if _, err := pub.Unban(ctx, ch, "th-ann", "unban-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Join(ctx, ch, client.From(0)); err != nil {
		t.Errorf("join after unban: %v", err)
	}

	// Every action is in the stream: live for those in the channel, and
	// replayed from history by a late joiner.
	late := dial("th-late")
	lateSub, err := late.Join(ctx, ch, client.From(0))
	if err != nil {
		t.Fatal(err)
	}
	wantOps := []string{wire.ModRole, wire.ModMute, wire.ModBan, wire.ModUnban}
	gotLive := opsSeen(ctx, subs["bob"], len(wantOps))
	gotReplay := opsSeen(ctx, lateSub, len(wantOps))
	fmt.Printf("FIGURES moderation: mute, muted send refused, delete by a moderator converged on 3 clients in %d ms; live ops %v, replayed ops %v\n",
		converged.Milliseconds(), gotLive, gotReplay)
	if strings.Join(gotReplay, ",") != strings.Join(wantOps, ",") {
		t.Errorf("a late joiner replays %v, want %v", gotReplay, wantOps)
	}
	if strings.Join(gotLive, ",") != strings.Join(wantOps[1:], ",") && strings.Join(gotLive, ",") != strings.Join(wantOps, ",") {
		t.Errorf("bob saw %v live, want %v", gotLive, wantOps[1:])
	}
}

// waitMessage waits until s's model holds message seq in a state ok accepts.
func waitMessage(ctx context.Context, s *client.Subscription, seq int64, ok func(client.Message) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if m, found := s.Message(seq); found && ok(m) {
			return nil
		}
		select {
		case <-ctx.Done():
			m, found := s.Message(seq)
			return fmt.Errorf("message %d (found %v) is %+v", seq, found, m)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// opsSeen reads s's stream until n moderation events came (or a few
// seconds passed) and returns their ops in stream order.
func opsSeen(ctx context.Context, s *client.Subscription, n int) []string {
	var ops []string
	deadline := time.After(5 * time.Second)
	for len(ops) < n {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return ops
			}
			if ev.Type == client.EventModeration {
				ops = append(ops, ev.Moderation.Op)
			}
		case <-deadline:
			return ops
		case <-ctx.Done():
			return ops
		}
	}
	return ops
}
