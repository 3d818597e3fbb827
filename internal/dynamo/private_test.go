package dynamo_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/testkit"
)

// userConnect registers connection id of user (the chat.Connection a
// $connect writes, indexed under its user).
func userConnect(t *testing.T, s *dynamo.Store, clk *testkit.Clock, id, user string) chat.Connection {
	t.Helper()
	c := chat.Connection{ID: id, Identity: chat.Identity{UserID: user, UserName: "Name " + user},
		ConnectedAt: clk.Now().Truncate(time.Millisecond), ExpiresAt: clk.Now().Add(chat.ConnectionTTL).Truncate(time.Second)}
	if err := s.PutConnection(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUserConnection(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func addMember(s *dynamo.Store, t *testing.T, clk *testkit.Clock, c chat.Connection, channel string) error {
	t.Helper()
	_, err := s.AddMember(t.Context(), chat.Member{Channel: channel, ConnectionID: c.ID, Identity: c.Identity, JoinedAt: clk.Now()}, 20)
	return err
}

// reached lists every connection a broadcast to channel reaches, sorted.
func reached(t *testing.T, s *dynamo.Store, channel string) []string {
	t.Helper()
	return slices.Sorted(maps.Keys(recipients(t, s, channel)))
}

// TestPrivateChannelMembership: only listed users join a private channel,
// with nothing left written by a refused join; the membership carries
// "private"; a removed user's join is refused again; a public channel with
// members cannot become private; listing pages the list.
func TestPrivateChannelMembership(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	ann, bob, eve := userConnect(t, s, clk, "c-ann", "ann"), userConnect(t, s, clk, "c-bob", "bob"), userConnect(t, s, clk, "c-eve", "eve")

	created, err := s.CreatePrivate(ctx, "board", []chat.Listed{{UserID: "ann", UserName: "Ann", AddedAt: clk.Now()}, {UserID: "bob", AddedAt: clk.Now()}})
	if err != nil || !created {
		t.Fatalf("CreatePrivate = %v, %v; want created", created, err)
	}
	if again, err := s.CreatePrivate(ctx, "board", []chat.Listed{{UserID: "ann", AddedAt: clk.Now()}}); err != nil || again {
		t.Errorf("CreatePrivate again = %v, %v; want not created, no error (a retry)", again, err)
	}
	for _, c := range []chat.Connection{ann, bob} {
		if err := addMember(s, t, clk, c, "board"); err != nil {
			t.Fatalf("%s joins its private channel: %v", c.UserID, err)
		}
	}
	if err := addMember(s, t, clk, eve, "board"); !errors.Is(err, chat.ErrForbidden) {
		t.Fatalf("eve (not listed) joins: %v, want ErrForbidden", err)
	}
	// The refused join left nothing: not in eve's set, not counted, not a recipient.
	if c, _ := s.Connection(ctx, eve.ID); len(c.Channels) != 0 {
		t.Errorf("eve's channels after a refused join = %v, want none", c.Channels)
	}
	if n, _, _ := s.ChannelSize(ctx, "board"); n != 2 {
		t.Errorf("board has %d members, want 2 (the refused join undone)", n)
	}
	if got := reached(t, s, "board"); !slices.Equal(got, []string{"c-ann", "c-bob"}) {
		t.Errorf("recipients %v, want ann's and bob's connections", got)
	}
	if m, err := s.Member(ctx, "board", ann.ID); err != nil || !m.Private {
		t.Errorf("ann's membership = %+v, %v; want private", m, err)
	}

	// Removal: off the list (the caller then removes memberships), and a
	// later join is refused.
	if removed, err := s.RemoveListed(ctx, "board", "bob"); err != nil || !removed {
		t.Fatalf("RemoveListed(bob) = %v, %v", removed, err)
	}
	if removed, err := s.RemoveListed(ctx, "board", "bob"); err != nil || removed {
		t.Errorf("RemoveListed(bob) again = %v, %v; want false (a retry)", removed, err)
	}
	if _, err := s.RemoveMember(ctx, "board", bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := addMember(s, t, clk, bob, "board"); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("bob joins after his removal: %v, want ErrForbidden", err)
	}

	// Public channels are untouched; one with members cannot turn private.
	if err := addMember(s, t, clk, eve, "lobby"); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Member(ctx, "lobby", eve.ID); m.Private {
		t.Error("a public channel's membership says private")
	}
	if _, err := s.CreatePrivate(ctx, "lobby", []chat.Listed{{UserID: "ann", AddedAt: clk.Now()}}); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("CreatePrivate(lobby with a member) = %v, want ErrConflict", err)
	}
	if _, err := s.AddListed(ctx, chat.Listed{Channel: "lobby", UserID: "ann"}); !errors.Is(err, chat.ErrNotPrivate) {
		t.Errorf("AddListed on a public channel = %v, want ErrNotPrivate", err)
	}

	// Listing, page by page, and the users' own index.
	for _, u := range []string{"carol", "dave", "erin"} {
		if added, err := s.AddListed(ctx, chat.Listed{Channel: "board", UserID: u, AddedAt: clk.Now()}); err != nil || !added {
			t.Fatalf("AddListed(%s) = %v, %v", u, added, err)
		}
	}
	var all []string
	cur := ""
	for range 5 {
		page, next, err := s.ListedMembers(ctx, "board", cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page {
			all = append(all, l.UserID)
			if l.Role != chat.RoleMember {
				t.Errorf("%s has role %q, want member", l.UserID, l.Role)
			}
		}
		if cur = next; cur == "" {
			break
		}
	}
	if !slices.Equal(all, []string{"ann", "carol", "dave", "erin"}) {
		t.Errorf("list %v, want ann, carol, dave, erin", all)
	}
	if _, _, err := s.ListedMembers(ctx, "board", "!!", 2); !errors.Is(err, chat.ErrBadCursor) {
		t.Errorf("a forged cursor: %v, want ErrBadCursor", err)
	}
	mine, err := s.ListedChannels(ctx, "ann")
	if err != nil || len(mine) != 1 || mine[0].Channel != "board" || mine[0].Direct {
		t.Errorf("ann's channels = %+v, %v; want board", mine, err)
	}
	if theirs, _ := s.ListedChannels(ctx, "bob"); len(theirs) != 0 {
		t.Errorf("bob's channels after his removal = %+v, want none", theirs)
	}
}

// TestJoinRacingRemovalDoesNotOutliveIt: a join that read the list before a
// removal, and wrote its membership after the removal's sweep, reads the
// list again and takes itself out (the removal cannot see it).
func TestJoinRacingRemovalDoesNotOutliveIt(t *testing.T) {
	ctx := t.Context()
	db, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	hook := &removeOnSecondListRead{}
	s := dynamo.New(&getHook{API: db, onGet: hook.onGet}, table, dynamo.Options{Now: clk.Now})
	hook.remove = func() {
		if _, err := s.RemoveListed(ctx, "board", "bob"); err != nil {
			t.Error(err)
		}
	}
	bob := userConnect(t, s, clk, "c-bob", "bob")
	if _, err := s.CreatePrivate(ctx, "board", []chat.Listed{{UserID: "bob", AddedAt: clk.Now()}}); err != nil {
		t.Fatal(err)
	}
	err := addMember(s, t, clk, bob, "board")
	if !errors.Is(err, chat.ErrForbidden) || hook.reads != 2 {
		t.Fatalf("join with a removal between its two list reads: %v after %d reads, want ErrForbidden after 2", err, hook.reads)
	}
	if got := reached(t, s, "board"); len(got) != 0 {
		t.Errorf("recipients %v after the race, want none", got)
	}
	if _, err := s.Member(ctx, "board", bob.ID); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("bob's membership after the race: %v, want ErrNotFound", err)
	}
}

// TestDirectMessages: a direct message's name is the same from both sides;
// opening it is idempotent; only its two users ever join, and a name no one
// opened cannot be joined (nor squatted as a public channel); its users'
// indexes name the other user.
func TestDirectMessages(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	ann, bob, eve := userConnect(t, s, clk, "c-ann", "ann"), userConnect(t, s, clk, "c-bob", "bob"), userConnect(t, s, clk, "c-eve", "eve")
	dm := chat.DirectChannel("ann", "bob")
	if dm != chat.DirectChannel("bob", "ann") || !chat.IsDirect(dm) {
		t.Fatalf("DirectChannel is not order-independent or lacks the prefix: %s", dm)
	}
	// Before it is opened, nobody joins, and eve cannot squat the name.
	if err := addMember(s, t, clk, eve, dm); !errors.Is(err, chat.ErrForbidden) {
		t.Fatalf("eve joins an unopened DM: %v, want ErrForbidden", err)
	}
	if err := addMember(s, t, clk, ann, dm); !errors.Is(err, chat.ErrForbidden) {
		t.Fatalf("ann joins her unopened DM: %v, want ErrForbidden", err)
	}
	uc, created, err := s.OpenDirect(ctx, ann.Identity, "bob", clk.Now())
	if err != nil || !created || uc.Channel != dm || uc.Peer.UserID != "bob" || uc.Peer.UserName != "bob" {
		t.Fatalf("OpenDirect = %+v, %v, %v; want created, peer bob (name unknown yet)", uc, created, err)
	}
	again, created, err := s.OpenDirect(ctx, bob.Identity, "ann", clk.Now())
	if err != nil || created || again.Channel != dm || again.Peer.UserName != "Name ann" {
		t.Fatalf("OpenDirect by bob = %+v, %v, %v; want the same channel, not created, peer Name ann", again, created, err)
	}
	for _, c := range []chat.Connection{ann, bob} {
		if err := addMember(s, t, clk, c, dm); err != nil {
			t.Fatalf("%s joins the DM: %v", c.UserID, err)
		}
	}
	if err := addMember(s, t, clk, eve, dm); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("eve joins the DM: %v, want ErrForbidden", err)
	}
	if _, err := s.AddListed(ctx, chat.Listed{Channel: dm, UserID: "eve"}); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("AddListed(eve) to the DM = %v, want ErrConflict (its pair is fixed)", err)
	}
	if _, err := s.CreatePrivate(ctx, dm, nil); !errors.Is(err, chat.ErrConflict) {
		t.Errorf("CreatePrivate over the DM = %v, want ErrConflict", err)
	}
	// Each user's index names the other, with the name learnt when the
	// other opened it.
	for _, tc := range []struct{ user, peer, name string }{{"ann", "bob", "Name bob"}, {"bob", "ann", "Name ann"}} {
		got, err := s.ListedChannels(ctx, tc.user)
		if err != nil || len(got) != 1 || got[0].Channel != dm || !got[0].Direct || got[0].Peer != (chat.Identity{UserID: tc.peer, UserName: tc.name}) {
			t.Errorf("%s's channels = %+v, %v; want the DM with %s (%s)", tc.user, got, err, tc.peer, tc.name)
		}
	}
}

// TestGrantExpiryAndRenewal: Admit refuses a connection whose grant ended
// (and costs a public request no extra call: one update, which returns the
// grant); broadcasts skip it; RenewGrant extends it, on the connection and
// every fan-out item, for its own user only.
func TestGrantExpiryAndRenewal(t *testing.T) {
	ctx := t.Context()
	db, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	counting := &dynamotest.Counting{API: db}
	s := dynamo.New(counting, table, dynamo.Options{Now: clk.Now})
	until := clk.Now().Add(time.Minute).Truncate(time.Second)
	c := chat.Connection{ID: "c1", Identity: chat.Identity{UserID: "ann", UserName: "Ann"}, ConnectedAt: clk.Now(),
		ExpiresAt: clk.Now().Add(chat.ConnectionTTL), Until: until, IssuedAt: clk.Now().Truncate(time.Second), Capabilities: "v1:general=rwpd"}
	if err := s.PutConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	other := connect(t, s, clk, "c2") // no until: never expires by grant
	for _, conn := range []chat.Connection{c, other} {
		join(t, s, clk, conn, "general")
	}
	counting.Reset()
	g, ok, err := s.Admit(ctx, "c1", 5, 10)
	if err != nil || !ok || g.Capabilities != "v1:general=rwpd" || !g.Until.Equal(until) {
		t.Fatalf("Admit = %+v, %v, %v; want the stored grant", g, ok, err)
	}
	if calls := counting.Stats().Calls; len(calls) != 1 || calls["UpdateItem"] != 1 {
		t.Errorf("Admit made calls %v, want one UpdateItem (the rate update carries the grant check)", calls)
	}
	clk.Advance(time.Minute + time.Second)
	if _, _, err := s.Admit(ctx, "c1", 5, 10); !errors.Is(err, chat.ErrExpired) {
		t.Fatalf("Admit after the grant: %v, want ErrExpired", err)
	}
	if _, _, err := s.Admit(ctx, "c1", 0, 0); !errors.Is(err, chat.ErrExpired) {
		t.Errorf("Admit without a rate limit after the grant: %v, want ErrExpired", err)
	}
	if got := reached(t, s, "general"); !slices.Equal(got, []string{"c2"}) {
		t.Errorf("recipients %v after c1's grant ended, want only c2", got)
	}
	if _, err := s.RenewGrant(ctx, "c1", "mallory", chat.Grant{Until: clk.Now().Add(time.Hour)}); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("RenewGrant for another user: %v, want ErrForbidden", err)
	}
	renewed := clk.Now().Add(time.Hour).Truncate(time.Second)
	conn, err := s.RenewGrant(ctx, "c1", "ann", chat.Grant{Capabilities: "v1:other=r", Until: renewed, IssuedAt: clk.Now().Truncate(time.Second)})
	if err != nil || !slices.Equal(conn.Channels, []string{"general"}) || conn.Capabilities != "v1:other=r" || !conn.Until.Equal(renewed) {
		t.Fatalf("RenewGrant = %+v, %v", conn, err)
	}
	if g, ok, err := s.Admit(ctx, "c1", 5, 10); err != nil || !ok || g.Capabilities != "v1:other=r" {
		t.Errorf("Admit after the renewal = %+v, %v, %v; want the new capabilities", g, ok, err)
	}
	if got := reached(t, s, "general"); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("recipients %v after the renewal, want c1 again", got)
	}
	if _, err := s.RenewGrant(ctx, "gone", "ann", chat.Grant{Until: renewed}); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("RenewGrant of a missing connection: %v, want ErrNotFound", err)
	}
}

// TestRevocation: a revocation is stored at once and replaced by the next.
func TestRevocation(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	if before, err := s.Revoked(ctx, "ann"); err != nil || !before.IsZero() {
		t.Fatalf("Revoked(never) = %v, %v; want zero", before, err)
	}
	at := clk.Now().Truncate(time.Second)
	for _, when := range []time.Time{at, at.Add(time.Hour)} {
		if err := s.PutRevocation(ctx, "ann", when); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Revoked(ctx, "ann"); err != nil || !got.Equal(when) {
			t.Errorf("Revoked = %v, %v; want %v", got, err, when)
		}
	}
	// It sits in the user's partition beside the connections, which still
	// count as before.
	userConnect(t, s, clk, "c1", "ann")
	if n, err := s.CountConnectionsOfUser(ctx, "ann"); err != nil || n != 1 {
		t.Errorf("CountConnectionsOfUser = %d, %v; want 1", n, err)
	}
}

// TestExpiryIndex: entries are due once their until passed, in their
// minute's partitions; deleting one is final; the progress marker only
// moves forward.
func TestExpiryIndex(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	now := clk.Now().Truncate(time.Minute).Add(30 * time.Second)
	clk.Set(now)
	minute := now.Unix() / 60
	for i, d := range []time.Duration{-10 * time.Second, 0, 10 * time.Second} {
		if err := s.PutExpiry(ctx, []string{"a", "b", "c"}[i], now.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.DueExpiries(ctx, minute, now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range due {
		ids = append(ids, e.ConnectionID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("due %v, want a and b (c's until is ahead)", ids)
	}
	if err := s.DeleteExpiry(ctx, due[0]); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.DueExpiries(ctx, minute, now.Add(20*time.Second)); len(again) != 2 {
		t.Errorf("due after one deletion and c's until = %d entries, want 2", len(again))
	}
	if err := s.DeleteExpiry(ctx, chat.Expiry{Ref: "CONN#x|META"}); !errors.Is(err, chat.ErrBadCursor) {
		t.Errorf("DeleteExpiry of a foreign reference: %v, want ErrBadCursor", err)
	}
	if _, ok, err := s.SweptThrough(ctx); ok || err != nil {
		t.Fatalf("SweptThrough before any run = %v, %v", ok, err)
	}
	for _, m := range []int64{minute, minute - 5} {
		if err := s.SetSweptThrough(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok, err := s.SweptThrough(ctx); !ok || err != nil || got != minute {
		t.Errorf("SweptThrough = %d, %v, %v; want %d (never moved back)", got, ok, err, minute)
	}
}

// getHook is a dynamo.API that calls onGet before each GetItem.
type getHook struct {
	dynamo.API
	onGet func(in *dynamodb.GetItemInput)
}

func (h *getHook) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	h.onGet(in)
	return h.API.GetItem(ctx, in, optFns...)
}

// removeOnSecondListRead runs remove (a backend's removal) just before the
// second read of a member-list entry: between a join's check and its
// re-check, after its membership is written.
type removeOnSecondListRead struct {
	reads  int
	remove func()
}

func (r *removeOnSecondListRead) onGet(in *dynamodb.GetItemInput) {
	pk, _ := in.Key["pk"].(*types.AttributeValueMemberS)
	if pk == nil || !strings.HasPrefix(pk.Value, "ACL#") {
		return
	}
	if r.reads++; r.reads == 2 {
		r.remove()
	}
}
