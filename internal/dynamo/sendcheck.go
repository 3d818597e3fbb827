package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// CheckSend reads, in one strongly consistent BatchGetItem, what a send
// checks before it writes: the connection's membership of channel (shard 0,
// where every member of a one-shard channel is) and the channel's item
// (its member and shard counts), which the send then hands to its
// broadcast instead of reading it again (issue #23: the send path's
// membership check and size read were three calls). A member of a bigger
// channel who is not in shard 0 costs a GetItem per other candidate shard,
// as Member does. chat.ErrNotFound: not a member.
func (s *Store) CheckSend(ctx context.Context, channel, connID string) (chat.ChannelSize, error) {
	memberKey := key(memberPK(channel, 0), "CONN#"+connID)
	keys := []map[string]types.AttributeValue{memberKey, metaKey(channel)}
	var member, meta map[string]types.AttributeValue
	for range 3 {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}},
		})
		if err != nil {
			return chat.ChannelSize{}, translate("check send", err)
		}
		for _, item := range out.Responses[s.table] {
			if strAttr(item, attrSK) == "META" {
				meta = item
			} else {
				member = item
			}
		}
		keys = out.UnprocessedKeys[s.table].Keys
		if len(keys) == 0 {
			break
		}
	}
	if len(keys) != 0 {
		return chat.ChannelSize{}, fmt.Errorf("check send: keys unprocessed three times: %w", chat.ErrUnavailable)
	}
	size := chat.ChannelSize{Shards: shardsAttr(meta)}
	if meta != nil && !s.expired(meta) {
		size.Members, _ = numAttr(meta, attrMembers)
		size.Members = max(size.Members, 0)
	} else {
		size.Shards = 1
	}
	if member != nil && !s.expired(member) {
		return size, nil
	}
	for _, sh := range candidateShards(connID, size.Shards) {
		if sh == 0 {
			continue
		}
		_, err := s.getLive(ctx, "check send", key(memberPK(channel, sh), "CONN#"+connID))
		if err == nil {
			return size, nil
		}
		if !errors.Is(err, chat.ErrNotFound) {
			return size, err
		}
	}
	return size, fmt.Errorf("check send: not a member: %w", chat.ErrNotFound)
}

// StartCursor is the recipients cursor of a broadcast's first page for a
// channel of size (fanout.SizedStore): Recipients with it reads what
// Recipients with "" would, without reading the size again.
func (s *Store) StartCursor(size chat.ChannelSize) string {
	big := size.Members > int64(s.consistentUpTo)
	return recipientCursor{shards: max(size.Shards, 1), eventual: big, recent: big}.String()
}
