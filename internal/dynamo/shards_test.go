package dynamo_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/testkit"
)

// recipients pages Recipients to the end and counts how often each
// connection is listed.
func recipients(t *testing.T, s *dynamo.Store, channel string) map[string]int {
	t.Helper()
	return recipientsPaged(t, s, channel, 97)
}

func recipientsPaged(t *testing.T, s *dynamo.Store, channel string, pageSize int) map[string]int {
	t.Helper()
	got := map[string]int{}
	cur := ""
	for page := 0; ; page++ {
		if page > 10_000 {
			t.Fatal("Recipients never ended")
		}
		ms, next, err := s.Recipients(t.Context(), channel, cur, pageSize)
		if err != nil {
			t.Fatalf("Recipients page %d: %v", page, err)
		}
		for _, m := range ms {
			got[m.ConnectionID]++
		}
		if next == "" {
			return got
		}
		cur = next
	}
}

// roster pages Members to the end.
func roster(t *testing.T, s *dynamo.Store, channel string) map[string]int {
	t.Helper()
	return rosterPaged(t, s, channel, 50)
}

func rosterPaged(t *testing.T, s *dynamo.Store, channel string, pageSize int) map[string]int {
	t.Helper()
	got := map[string]int{}
	cur := ""
	for page := 0; ; page++ {
		if page > 10_000 {
			t.Fatal("Members never ended")
		}
		ms, next, err := s.Members(t.Context(), channel, cur, pageSize)
		if err != nil {
			t.Fatalf("Members page %d: %v", page, err)
		}
		for _, m := range ms {
			got[m.ConnectionID]++
		}
		if next == "" {
			return got
		}
		cur = next
	}
}

func joinAll(t *testing.T, s *dynamo.Store, clk *testkit.Clock, n, workers int, channel string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("conn-%011d=", i) // 16 characters, like API Gateway's ids
		connect(t, s, clk, ids[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan string)
	for range workers {
		wg.Go(func() {
			for id := range next {
				m := chat.Member{Channel: channel, ConnectionID: id, Identity: chat.Identity{UserID: "user-" + id, UserName: "Name " + id}, JoinedAt: clk.Now()}
				if _, err := s.AddMember(t.Context(), m, 20); err != nil {
					errs <- fmt.Errorf("AddMember(%s): %w", id, err)
				}
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

func TestShardsGrowUnderConcurrentJoins(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{ShardSize: 10})
	ids := joinAll(t, s, clk, 200, 16, "big")

	members, shards, err := s.ChannelSize(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	// 200 members > 16 × 10, ≤ 32 × 10.
	if members != 200 || shards != 32 {
		t.Errorf("ChannelSize = %d members, %d shards; want 200, 32", members, shards)
	}
	for name, got := range map[string]map[string]int{"Recipients": recipients(t, s, "big"), "Members": roster(t, s, "big")} {
		if len(got) != len(ids) {
			t.Errorf("%s lists %d connections, want %d", name, len(got), len(ids))
		}
		for _, id := range ids {
			// Recipients may list a recent joiner twice (recent + shard),
			// never more; Members exactly once.
			if n := got[id]; n < 1 || n > 2 || (name == "Members" && n != 1) {
				t.Errorf("%s lists %s %d times", name, id, n)
			}
		}
	}
	for _, id := range ids {
		if _, err := s.Member(ctx, "big", id); err != nil {
			t.Errorf("Member(big, %s) = %v, want found", id, err)
		}
	}

	// Once the recent window has passed, the eventually consistent shard
	// reads alone list every member exactly once.
	clk.Advance(dynamo.DefaultRecentWindow + time.Second)
	got := recipients(t, s, "big")
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("after the recent window, Recipients lists %s %d times, want 1", id, got[id])
		}
	}
}

func TestRepeatedJoinAfterGrowthKeepsOneMembership(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{ShardSize: 2})
	first := connect(t, s, clk, "first")
	join(t, s, clk, first, "room")
	joinAll(t, s, clk, 20, 4, "room") // grows the channel to 16 shards
	join(t, s, clk, first, "room")    // repeated, under the new count
	members, shards, err := s.ChannelSize(ctx, "room")
	if err != nil || members != 21 || shards != 16 {
		t.Fatalf("ChannelSize = %d, %d, %v; want 21 members, 16 shards", members, shards, err)
	}
	if got := roster(t, s, "room")["first"]; got != 1 {
		t.Errorf("Members lists first %d times, want 1", got)
	}
	clk.Advance(dynamo.DefaultRecentWindow + time.Second)
	if got := recipients(t, s, "room")["first"]; got != 1 {
		t.Errorf("Recipients lists first %d times, want 1", got)
	}
}

func TestLeaveAndGoneCleanupAcrossShards(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{ShardSize: 4})
	ids := joinAll(t, s, clk, 60, 8, "big")
	_, shards, _ := s.ChannelSize(ctx, "big")
	if shards < 8 {
		t.Fatalf("shards = %d, want the channel sharded (≥ 8)", shards)
	}
	left, gone := ids[:15], ids[15:30]
	for _, id := range left {
		existed, err := s.RemoveMember(ctx, "big", id)
		if err != nil || !existed {
			t.Errorf("RemoveMember(%s) = %v, %v; want existed", id, existed, err)
		}
		if existed, _ := s.RemoveMember(ctx, "big", id); existed {
			t.Errorf("second RemoveMember(%s) reports existed", id)
		}
	}
	for _, id := range gone {
		// The fan-out's 410 path: the membership it read is passed along.
		if _, err := s.RemoveConnection(ctx, id, "big"); err != nil {
			t.Errorf("RemoveConnection(%s): %v", id, err)
		}
	}
	members, _, err := s.ChannelSize(ctx, "big")
	if err != nil || members != 30 {
		t.Errorf("ChannelSize after 15 leaves and 15 gone = %d, %v; want 30", members, err)
	}
	clk.Advance(dynamo.DefaultRecentWindow + time.Second)
	rec, ros := recipients(t, s, "big"), roster(t, s, "big")
	for i, id := range ids {
		want := 0
		if i >= 30 {
			want = 1
		}
		if rec[id] != want || ros[id] != want {
			t.Errorf("%s listed %d (Recipients), %d (Members) times; want %d", id, rec[id], ros[id], want)
		}
		_, err := s.Member(ctx, "big", id)
		if (want == 1) != (err == nil) || (want == 0 && !errors.Is(err, chat.ErrNotFound)) {
			t.Errorf("Member(%s) = %v, want found %v", id, err, want == 1)
		}
	}
}

func TestRecipientsRejectsBadCursor(t *testing.T) {
	s, _ := newStore(t, dynamo.Options{})
	for _, cur := range []string{"!!", "eA", "MHxzfDB8", "MnxxfDB8", "MnxzfDJ8"} { // "x", "0|s|0|", "2|q|0|", "2|s|2|"
		if _, _, err := s.Recipients(t.Context(), "room", cur, 5); !errors.Is(err, chat.ErrBadCursor) {
			t.Errorf("Recipients(cursor %q) error = %v, want ErrBadCursor", cur, err)
		}
	}
}

// TestRecipientsReadCost measures what one broadcast reads, on dynalite,
// with each read's consumed capacity, at the fan-out's page size: the
// keys-only fan-out items against a strongly consistent read of the roster
// items (what a send read before). 1,000 members join through AddMember;
// 10,000 are loaded with BatchWriteItem as the items AddMember writes.
func TestRecipientsReadCost(t *testing.T) {
	const pageSize = 1000 // fanout.DefaultPageSize
	for _, n := range []int{1_000, 10_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			client, table := dynamotest.NewTable(t)
			db := &dynamotest.Counting{API: client, MeasureCapacity: true}
			clk := testkit.NewClock()
			s := dynamo.New(db, table, dynamo.Options{Now: clk.Now})
			if n <= 1_000 {
				joinAll(t, s, clk, n, 32, "general")
			} else {
				seed(t, client, table, s, clk, n, "general")
			}
			clk.Advance(dynamo.DefaultRecentWindow + time.Second)

			db.Reset()
			got := recipientsPaged(t, s, "general", pageSize)
			st := db.Stats()
			if len(got) != n {
				t.Fatalf("Recipients lists %d, want %d", len(got), n)
			}
			t.Logf("%d members, fan-out items: %d items read, %.1f RCU (%.4f per member), %d reads",
				n, st.ItemsRead, st.RCU, st.RCU/float64(n), st.Calls["Query"]+st.Calls["GetItem"])
			// 0.004 RCU per member, plus the channel item and the recent
			// joins' Query (1 RCU each, strongly consistent), plus up to half
			// a read unit lost to rounding in each shard's last page.
			_, shards, _ := s.ChannelSize(t.Context(), "general")
			if limit := 0.004*float64(n) + 2 + 0.5*float64(shards); st.RCU > limit || st.RCU == 0 {
				t.Errorf("a broadcast to %d members read %.1f RCU, want (0, %.1f]", n, st.RCU, limit)
			}
			if st.ItemsRead != n+1 {
				t.Errorf("a broadcast read %d items, want members + 1 (the channel item) = %d", st.ItemsRead, n+1)
			}

			db.Reset()
			if got := len(rosterPaged(t, s, "general", pageSize)); got != n {
				t.Fatalf("Members lists %d, want %d", got, n)
			}
			before := db.Stats()
			t.Logf("%d members, roster items strongly consistent (the design before): %d items read, %.1f RCU", n, before.ItemsRead, before.RCU)
			if st.RCU*4 > before.RCU {
				t.Errorf("fan-out items cost %.1f RCU, roster items %.1f: want at least 4x less", st.RCU, before.RCU)
			}
		})
	}
}

// seed loads n settled members of channel with BatchWriteItem.
func seed(t *testing.T, client *dynamodb.Client, table string, s *dynamo.Store, clk *testkit.Clock, n int, channel string) {
	t.Helper()
	members := make([]chat.Member, n)
	for i := range members {
		id := fmt.Sprintf("conn-%011d=", i)
		members[i] = chat.Member{Channel: channel, ConnectionID: id, Identity: chat.Identity{UserID: "user-" + id, UserName: "Name " + id}, JoinedAt: clk.Now()}
	}
	items := s.SeedItems(channel, members, clk.Now().Add(chat.ConnectionTTL))
	for start := 0; start < len(items); start += 25 {
		var reqs []types.WriteRequest
		for _, it := range items[start:min(start+25, len(items))] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		for try := 0; len(reqs) > 0; try++ {
			if try > 20 {
				t.Fatal("BatchWriteItem: items left unprocessed after 20 tries")
			}
			out, err := client.BatchWriteItem(t.Context(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
			if err != nil {
				t.Fatal(err)
			}
			reqs = out.UnprocessedItems[table]
		}
	}
}

// TestCandidateShards: every shard a member was ever written to, as the
// count doubled, is a candidate under any later count.
func TestCandidateShards(t *testing.T) {
	for _, id := range []string{"a", "conn-00000000042=", "L0SM9cOFvHcCIhw="} {
		for _, final := range []int{1, 2, 8, 256} {
			cands := dynamo.CandidateShards(id, final)
			for n := 1; n <= final; n *= 2 {
				placed := dynamo.ShardOf(id, n)
				found := false
				for _, c := range cands {
					found = found || c == placed
					if c < 0 || c >= final {
						t.Errorf("candidate %d of %s outside 0..%d", c, id, final-1)
					}
				}
				if !found {
					t.Errorf("CandidateShards(%s, %d) = %v, misses shard %d (placed under %d shards)", id, final, cands, placed, n)
				}
			}
			if got := cands[0]; got != dynamo.ShardOf(id, final) {
				t.Errorf("CandidateShards(%s, %d)[0] = %d, want the current placement %d", id, final, got, dynamo.ShardOf(id, final))
			}
		}
	}
}
