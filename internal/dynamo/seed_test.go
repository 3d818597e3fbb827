package dynamo_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
)

// Seeded members are read by broadcasts and tasks exactly as joined ones:
// every shard of the grown count, each member once.
func TestSeedFanoutMembers(t *testing.T) {
	db, table := dynamotest.NewTable(t)
	store := dynamo.New(db, table, dynamo.Options{ShardSize: 50})
	var ids []string
	for i := range 430 {
		ids = append(ids, fmt.Sprintf("v-%05d", i))
	}
	if err := store.SeedFanoutMembers(t.Context(), "huge", ids); err != nil {
		t.Fatal(err)
	}
	members, shards, err := store.ChannelSize(t.Context(), "huge")
	if err != nil || members != 430 || shards != 16 {
		t.Fatalf("size = %d members, %d shards, %v; want 430 in 16 (50 per shard)", members, shards, err)
	}
	var got []string
	for sh := range shards {
		cursor := ""
		for range 100 {
			ms, next, err := store.ShardRecipients(t.Context(), "huge", shards, sh, cursor, 37)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				got = append(got, m.ConnectionID)
			}
			if cursor = next; cursor == "" {
				break
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("shards hold %d ids, want the 430 seeded once each", len(got))
	}
}
