package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

func newStore(t *testing.T, opts dynamo.Options) (*dynamo.Store, *testkit.Clock) {
	t.Helper()
	db, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	if opts.SeqBase == nil {
		// Seqs from 1, as these tests count them (counter_test.go tests
		// the time base).
		opts.SeqBase = dynamo.FromOne
	}
	return dynamo.New(db, table, opts), clk
}

func connect(t *testing.T, s *dynamo.Store, clk *testkit.Clock, id string) chat.Connection {
	t.Helper()
	c := chat.Connection{
		ID:          id,
		Identity:    chat.Identity{UserID: "user-" + id, UserName: "Name " + id},
		ConnectedAt: clk.Now().Truncate(time.Millisecond),
		ExpiresAt:   clk.Now().Add(chat.ConnectionTTL).Truncate(time.Second),
	}
	if err := s.PutConnection(t.Context(), c); err != nil {
		t.Fatalf("PutConnection(%s): %v", id, err)
	}
	return c
}

func join(t *testing.T, s *dynamo.Store, clk *testkit.Clock, c chat.Connection, channel string) {
	t.Helper()
	m := chat.Member{Channel: channel, ConnectionID: c.ID, Identity: c.Identity, JoinedAt: clk.Now()}
	if _, err := s.AddMember(t.Context(), m, 20); err != nil {
		t.Fatalf("AddMember(%s, %s): %v", channel, c.ID, err)
	}
}

func TestConnectionRoundTripAndExpiry(t *testing.T) {
	s, clk := newStore(t, dynamo.Options{})
	want := connect(t, s, clk, "c1")
	got, err := s.Connection(t.Context(), "c1")
	if err != nil {
		t.Fatalf("Connection: %v", err)
	}
	if got.ID != want.ID || got.Identity != want.Identity || !got.ConnectedAt.Equal(want.ConnectedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("Connection = %+v, want %+v", got, want)
	}
	if _, err := s.Connection(t.Context(), "nope"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("Connection(missing) error = %v, want ErrNotFound", err)
	}
	clk.Advance(chat.ConnectionTTL + time.Second)
	if _, err := s.Connection(t.Context(), "c1"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("Connection(expired) error = %v, want ErrNotFound (dynalite never deletes by TTL)", err)
	}
}

func TestAddMemberLimitsAndRepeats(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	c := connect(t, s, clk, "c1")
	add := func(ch string) (bool, error) {
		return s.AddMember(ctx, chat.Member{Channel: ch, ConnectionID: c.ID, Identity: c.Identity, JoinedAt: clk.Now()}, 2)
	}
	tests := []struct {
		channel     string
		wantAlready bool
		wantErr     error
	}{
		{"a", false, nil},
		{"a", true, nil},
		{"b", false, nil},
		{"c", false, chat.ErrLimit},
		{"b", true, nil}, // a repeat is allowed at the limit
	}
	for i, tt := range tests {
		already, err := add(tt.channel)
		if !errors.Is(err, tt.wantErr) || (err == nil && already != tt.wantAlready) {
			t.Errorf("step %d AddMember(%s) = (%v, %v), want (%v, %v)", i, tt.channel, already, err, tt.wantAlready, tt.wantErr)
		}
	}
	m, err := s.Member(ctx, "a", "c1")
	if err != nil {
		t.Fatalf("Member: %v", err)
	}
	if m.UserID != c.UserID || !m.ExpiresAt.Equal(c.ExpiresAt) {
		t.Errorf("Member = %+v, want user %s and the connection's expiry %v", m, c.UserID, c.ExpiresAt)
	}
	if _, err := s.Member(ctx, "c", "c1"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("Member(c) error = %v, want ErrNotFound", err)
	}
	_, err = s.AddMember(ctx, chat.Member{Channel: "a", ConnectionID: "ghost"}, 2)
	if !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("AddMember(no connection) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Connection(ctx, "ghost"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("AddMember created a connection item for a missing connection: %v", err)
	}
}

func TestRemoveMember(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	c := connect(t, s, clk, "c1")
	join(t, s, clk, c, "a")
	join(t, s, clk, c, "b")
	for i, want := range []bool{true, false} {
		existed, err := s.RemoveMember(ctx, "a", "c1")
		if err != nil || existed != want {
			t.Errorf("RemoveMember #%d = (%v, %v), want (%v, nil)", i+1, existed, err, want)
		}
	}
	got, err := s.Connection(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Channels, []string{"b"}) {
		t.Errorf("channels after leaving a = %v, want [b]", got.Channels)
	}
	if _, err := s.RemoveMember(ctx, "a", "ghost"); err != nil {
		t.Errorf("RemoveMember(no connection) error = %v, want nil", err)
	}
}

func TestMembersPagesAcrossShardsAndSkipsExpired(t *testing.T) {
	// ShardSize 5 grows the channel to 8 shards (23 members > 4×5).
	for _, size := range []int{0, 5} {
		t.Run(fmt.Sprintf("shardSize=%d", size), func(t *testing.T) {
			ctx := t.Context()
			s, clk := newStore(t, dynamo.Options{ShardSize: size})
			want := map[string]bool{}
			for i := range 23 {
				c := connect(t, s, clk, fmt.Sprintf("c%02d", i))
				join(t, s, clk, c, "room")
				want[c.ID] = true
			}
			other := connect(t, s, clk, "other")
			join(t, s, clk, other, "elsewhere")

			got := map[string]bool{}
			cur, pages := "", 0
			for {
				ms, next, err := s.Members(ctx, "room", cur, 5)
				if err != nil {
					t.Fatalf("Members page %d: %v", pages, err)
				}
				if len(ms) > 5 {
					t.Fatalf("Members page has %d items, limit 5", len(ms))
				}
				for _, m := range ms {
					if got[m.ConnectionID] {
						t.Errorf("member %s listed twice", m.ConnectionID)
					}
					got[m.ConnectionID] = true
				}
				pages++
				if next == "" || pages > 50 {
					break
				}
				cur = next
			}
			if len(got) != len(want) {
				t.Errorf("Members listed %d connections, want %d", len(got), len(want))
			}
			for id := range want {
				if !got[id] {
					t.Errorf("member %s missing", id)
				}
			}

			clk.Advance(chat.ConnectionTTL + time.Minute)
			ms, _, err := s.Members(ctx, "room", "", 100)
			if err != nil || len(ms) != 0 {
				t.Errorf("Members after expiry = %d members, %v; want none", len(ms), err)
			}
		})
	}
}

func TestMembersRejectsBadCursor(t *testing.T) {
	s, _ := newStore(t, dynamo.Options{ShardSize: 1})
	for _, cur := range []string{"!!", "bm9jb2xvbg", "OTo=", "LTE6eA"} { // "nocolon", "9:", "-1:x"
		if _, _, err := s.Members(t.Context(), "room", cur, 5); !errors.Is(err, chat.ErrBadCursor) {
			t.Errorf("Members(cursor %q) error = %v, want ErrBadCursor", cur, err)
		}
	}
}

func TestRemoveConnectionDeletesEveryMembership(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{ShardSize: 1})
	c := connect(t, s, clk, "c1")
	keep := connect(t, s, clk, "c2")
	for _, ch := range []string{"a", "b", "c"} {
		join(t, s, clk, c, ch)
		join(t, s, clk, keep, ch)
	}
	got, err := s.RemoveConnection(ctx, "c1")
	if err != nil {
		t.Fatalf("RemoveConnection: %v", err)
	}
	slices.Sort(got.Channels)
	if !slices.Equal(got.Channels, []string{"a", "b", "c"}) || got.UserID != c.UserID {
		t.Errorf("RemoveConnection = %+v, want channels [a b c] and user %s", got, c.UserID)
	}
	for _, ch := range []string{"a", "b", "c"} {
		ms, _, err := s.Members(ctx, ch, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ConnectionID)
		}
		// 2 shards: page through.
		for cur := ""; ; {
			_, next, _ := s.Members(ctx, ch, cur, 100)
			if next == "" {
				break
			}
			more, _, _ := s.Members(ctx, ch, next, 100)
			for _, m := range more {
				ids = append(ids, m.ConnectionID)
			}
			cur = next
		}
		if !slices.Equal(ids, []string{"c2"}) {
			t.Errorf("members of %s after removing c1 = %v, want [c2]", ch, ids)
		}
	}
	if _, err := s.RemoveConnection(ctx, "c1"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("second RemoveConnection error = %v, want ErrNotFound", err)
	}

	// A stale membership whose connection item is gone is removed through
	// alsoChannels.
	stale := connect(t, s, clk, "c3")
	join(t, s, clk, stale, "a")
	if _, err := s.RemoveConnection(ctx, "c3"); err != nil {
		t.Fatal(err)
	}
	join(t, s, clk, connect(t, s, clk, "c4"), "z")
	if err := s.PutConnection(ctx, chat.Connection{ID: "c4", ExpiresAt: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err) // c4's item now lists no channels, but its membership of z remains
	}
	if _, err := s.RemoveConnection(ctx, "c4", "z"); err != nil {
		t.Fatalf("RemoveConnection(c4, z): %v", err)
	}
	if _, err := s.Member(ctx, "z", "c4"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("membership of z survived RemoveConnection(c4, z): %v", err)
	}
}

func TestTakeTokensIsATokenBucketPerConnection(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	conn := chat.Rate{PerSecond: 2, Burst: 3}
	take := func(c string) bool {
		t.Helper()
		r, err := s.TakeTokens(ctx, "ann", c, chat.Rate{}, conn) // the user's limit off
		if err != nil {
			t.Fatalf("TakeTokens: %v", err)
		}
		if r != chat.Allowed && r != chat.ConnectionRefused {
			t.Fatalf("TakeTokens = %v, want Allowed or ConnectionRefused", r)
		}
		return r == chat.Allowed
	}
	steps := []struct {
		advance time.Duration
		want    bool
	}{
		{0, true}, {0, true}, {0, true}, {0, false}, {0, false},
		{500 * time.Millisecond, true}, {0, false},
		{250 * time.Millisecond, false},
		{10 * time.Second, true}, {0, true}, {0, true}, {0, false},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		if got := take("c1"); got != st.want {
			t.Errorf("step %d (+%v): TakeTokens = %v, want %v", i, st.advance, got, st.want)
		}
	}
	if !take("c2") {
		t.Error("another connection of the same user has its own bucket, but c2 was refused")
	}
}

func TestTakeTokensSpendsBothBuckets(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	user, conn := chat.Rate{PerSecond: 1, Burst: 4}, chat.Rate{PerSecond: 1, Burst: 2}
	var got []chat.Refused
	for _, c := range []string{"a", "a", "a", "b", "b", "b"} {
		r, err := s.TakeTokens(ctx, "ann", c, user, conn)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	// a: two, then its own bucket refuses; b: two more, then the user's
	// (four in all) refuses.
	want := []chat.Refused{chat.Allowed, chat.Allowed, chat.ConnectionRefused, chat.Allowed, chat.Allowed, chat.UserRefused}
	if !slices.Equal(got, want) {
		t.Errorf("TakeTokens = %v, want %v", got, want)
	}
	// A refused request spent nothing: after one interval each bucket has
	// exactly one more token.
	clk.Advance(time.Second)
	if r, _ := s.TakeTokens(ctx, "ann", "c", user, conn); r != chat.Allowed {
		t.Errorf("after 1 s: %v, want Allowed", r)
	}
	if r, _ := s.TakeTokens(ctx, "ann", "d", user, conn); r != chat.UserRefused {
		t.Errorf("after 1 s, a second request: %v, want UserRefused", r)
	}
	if r, err := s.TakeTokens(ctx, "bob", "x", user, conn); r != chat.Allowed || err != nil {
		t.Errorf("another user = %v, %v; want Allowed", r, err)
	}
	if r, err := s.TakeTokens(ctx, "ann", "a", chat.Rate{}, chat.Rate{}); r != chat.Allowed || err != nil {
		t.Errorf("both limits off = %v, %v; want Allowed", r, err)
	}
}

func TestTakeTokensIsExactUnderConcurrency(t *testing.T) {
	s, _ := newStore(t, dynamo.Options{})
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for i := range 20 {
		wg.Go(func() {
			r, err := s.TakeTokens(t.Context(), "ann", fmt.Sprintf("c%d", i%2), chat.Rate{PerSecond: 1, Burst: 5}, chat.Rate{PerSecond: 1, Burst: 10})
			if err != nil {
				t.Errorf("TakeTokens: %v", err)
			}
			if r == chat.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 5 {
		t.Errorf("20 concurrent TakeTokens with a user burst of 5 allowed %d, want 5", got)
	}
}

// The buckets of connections long idle leave the user's item, so it stays
// one write unit however many connections the user opens over time.
func TestTakeTokensPrunesIdleConnections(t *testing.T) {
	ctx := t.Context()
	db, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	s := dynamo.New(db, table, dynamo.Options{Now: clk.Now})
	rate := chat.Rate{PerSecond: 5, Burst: 10}
	for i := range 40 {
		if r, err := s.TakeTokens(ctx, "ann", fmt.Sprintf("conn-%02d", i), rate, rate); r != chat.Allowed || err != nil {
			t.Fatalf("TakeTokens %d = %v, %v", i, r, err)
		}
		clk.Advance(2 * time.Minute)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "USER#ann"}, "sk": &types.AttributeValueMemberS{Value: "RATE"}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name := range out.Item {
		if strings.HasPrefix(name, "ct#") {
			n++
		}
	}
	if n > 5 {
		t.Errorf("the rate item holds %d connection buckets after 40 connections, want at most 5", n)
	}
}

func TestSendSteps(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	k := chat.ClaimKey{Channel: "room", UserID: "u#1", ClientID: "c1"}
	claim := chat.Claim{ClaimKey: k, TextHash: chat.TextHash("hi"), SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}

	got, created, err := s.Claim(ctx, claim)
	if err != nil || !created || got.Seq != 0 {
		t.Fatalf("first Claim = (%+v, %v, %v), want created with no seq", got, created, err)
	}
	seq, err := s.NextSeq(ctx, "room")
	if err != nil || seq != 1 {
		t.Fatalf("NextSeq = %d, %v; want 1", seq, err)
	}
	if got, err := s.SetClaimSeq(ctx, k, seq); err != nil || got != 1 {
		t.Fatalf("SetClaimSeq = %d, %v; want 1", got, err)
	}
	// A concurrent attempt that took seq 2 must adopt seq 1.
	if got, err := s.SetClaimSeq(ctx, k, 2); err != nil || got != 1 {
		t.Errorf("second SetClaimSeq = %d, %v; want 1", got, err)
	}
	clk.Advance(time.Minute)
	again, created, err := s.Claim(ctx, chat.Claim{ClaimKey: k, TextHash: "other", SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)})
	if err != nil || created {
		t.Fatalf("retry Claim = (%+v, %v, %v), want the existing claim", again, created, err)
	}
	if again.Seq != 1 || again.Delivered || again.TextHash != claim.TextHash || !again.SentAt.Equal(claim.SentAt) {
		t.Errorf("retry Claim = %+v, want the first attempt's seq 1, hash and sentAt", again)
	}
	// An expired claim is replaced.
	clk.Advance(2 * time.Hour)
	_, created, err = s.Claim(ctx, chat.Claim{ClaimKey: k, SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)})
	if err != nil || !created {
		t.Errorf("Claim after expiry: created = %v, %v; want a new claim", created, err)
	}
}

func TestHistory(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	start := clk.Now()
	for seq := int64(1); seq <= 12; seq++ {
		expires := start.Add(time.Hour)
		if seq <= 3 {
			expires = start.Add(time.Minute) // the oldest expire first
		}
		m := chat.Message{Channel: "room", Seq: seq, Identity: chat.Identity{UserID: "u", UserName: "U"},
			Text: fmt.Sprintf("m%d", seq), ClientID: fmt.Sprint(seq), SentAt: start, ExpiresAt: expires}
		if err := s.PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		if err := s.PutMessage(ctx, m); err != nil { // a retry writes the same item
			t.Fatal(err)
		}
	}
	if err := s.PutMessage(ctx, chat.Message{Channel: "other", Seq: 1, Text: "x", ExpiresAt: start.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	seqs := func(ms []chat.Message) []int64 {
		var out []int64
		for _, m := range ms {
			out = append(out, m.Seq)
		}
		return out
	}
	tests := []struct {
		name     string
		advance  time.Duration
		after    int64
		limit    int
		want     []int64
		wantMore bool
		wantNext int64
	}{
		{"first page", 0, 0, 5, []int64{1, 2, 3, 4, 5}, true, 5},
		{"after", 0, 5, 5, []int64{6, 7, 8, 9, 10}, true, 10},
		{"last page exact", 0, 7, 5, []int64{8, 9, 10, 11, 12}, false, 12},
		{"last page short", 0, 10, 5, []int64{11, 12}, false, 12},
		{"past the end", 0, 12, 5, nil, false, 12},
		{"expired skipped", 2 * time.Minute, 0, 4, []int64{4, 5, 6, 7}, true, 7},
	}
	for _, tt := range tests {
		clk.Advance(tt.advance)
		got, more, next, err := s.History(ctx, "room", tt.after, tt.limit)
		if err != nil {
			t.Fatalf("%s: History: %v", tt.name, err)
		}
		if !slices.Equal(seqs(got), tt.want) || more != tt.wantMore || next != tt.wantNext {
			t.Errorf("%s: History(after %d, limit %d) = %v more=%v next=%d, want %v more=%v next=%d",
				tt.name, tt.after, tt.limit, seqs(got), more, next, tt.want, tt.wantMore, tt.wantNext)
		}
	}
	got, _, _, _ := s.History(ctx, "room", 3, 1)
	if len(got) != 1 || got[0].Text != "m4" || got[0].UserName != "U" || !got[0].SentAt.Equal(start) {
		t.Errorf("History item = %+v, want m4 by U at %v", got, start)
	}
}

func TestNextSeqIsAtomic(t *testing.T) {
	s, _ := newStore(t, dynamo.Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	for range 20 {
		wg.Go(func() {
			seq, err := s.NextSeq(context.WithoutCancel(t.Context()), "room")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[seq] {
				t.Errorf("seq %d handed out twice", seq)
			}
			seen[seq] = true
		})
	}
	wg.Wait()
	for i := int64(1); i <= 20; i++ {
		if !seen[i] {
			t.Errorf("seq %d never handed out; got %v", i, seen)
		}
	}
}
