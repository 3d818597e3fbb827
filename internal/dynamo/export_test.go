package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// Exported for the external tests: the shard placement rules.
var (
	CandidateShards = candidateShards
	ShardOf         = shardOf
)

// SeedItems returns the items a settled channel of members holds (the
// channel item, and for each member the roster and fan-out items that
// AddMember writes, placed under the final shard count), so a read-cost
// measurement can load 10,000 members with BatchWriteItem instead of 70,000
// single calls. The recent-join items are left out: they are outside the
// recent window of a settled channel.
func (s *Store) SeedItems(channel string, members []chat.Member, expires time.Time) []map[string]types.AttributeValue {
	shards := 1
	for int64(len(members)) > int64(shards)*int64(s.shardSize) && shards < s.maxShards {
		shards *= 2
	}
	meta := metaKey(channel)
	meta[attrShards] = num(int64(shards))
	meta[attrMembers] = num(int64(len(members)))
	items := []map[string]types.AttributeValue{meta}
	for _, m := range members {
		sh := shardOf(m.ConnectionID, shards)
		items = append(items, fanoutKey(channel, sh, m.ConnectionID), rosterItem(m, sh, expires))
	}
	return items
}

// ResolveAsScanned decides the stream item at seq as SettledHistory does
// after its scan read the item pending, whatever the item says now: the
// state a concurrent change can leave between the scan and the target read.
func (s *Store) ResolveAsScanned(ctx context.Context, q chat.HistoryQuery, seq, target int64) (include, settled bool) {
	w := settler{s: s, q: q}
	return w.resolve(ctx, seq, target, chat.StatusPending, s.now())
}
