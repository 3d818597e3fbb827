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
// checks before it writes: the connection's item (is it registered, and its
// grant: the capabilities a reauth may have replaced, and their expiry),
// its membership of channel (shard 0, where every member of a one-shard
// channel is) and the channel's item (its member and shard counts), which
// the send then hands to its broadcast instead of reading it again (issue
// #23: the grant, the membership and the size were three calls, the size
// read twice). A member of a bigger channel who is not in shard 0 costs a
// GetItem per other candidate shard, as Member does.
func (s *Store) CheckSend(ctx context.Context, channel, connID string) (chat.SendCheck, error) {
	memberKey := key(memberPK(channel, 0), "CONN#"+connID)
	keys := []map[string]types.AttributeValue{connKey(connID), memberKey, metaKey(channel)}
	items := map[string]map[string]types.AttributeValue{}
	for range 3 {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}},
		})
		if err != nil {
			return chat.SendCheck{}, translate("check send", err)
		}
		for _, item := range out.Responses[s.table] {
			if !s.expired(item) {
				items[strAttr(item, attrPK)] = item
			}
		}
		keys = out.UnprocessedKeys[s.table].Keys
		if len(keys) == 0 {
			break
		}
	}
	if len(keys) != 0 {
		return chat.SendCheck{}, fmt.Errorf("check send: keys unprocessed three times: %w", chat.ErrUnavailable)
	}
	var sc chat.SendCheck
	if conn, ok := items[strAttr(connKey(connID), attrPK)]; ok {
		sc.Registered, sc.Grant = true, grantOf(conn)
	}
	sc.Size.Shards = 1
	if meta, ok := items[strAttr(metaKey(channel), attrPK)]; ok {
		sc.Size.Members, _ = numAttr(meta, attrMembers)
		sc.Size.Members = max(sc.Size.Members, 0)
		sc.Size.Shards = shardsAttr(meta)
	}
	if m, ok := items[memberPK(channel, 0)]; ok {
		member := decodeMember(channel, m)
		sc.Member = &member
		return sc, nil
	}
	for _, sh := range candidateShards(connID, sc.Size.Shards) {
		if sh == 0 {
			continue
		}
		item, err := s.getLive(ctx, "check send", key(memberPK(channel, sh), "CONN#"+connID))
		if err == nil {
			member := decodeMember(channel, item)
			sc.Member = &member
			return sc, nil
		}
		if !errors.Is(err, chat.ErrNotFound) {
			return sc, err
		}
	}
	return sc, nil
}

// StartCursor is the recipients cursor of a broadcast's first page for a
// channel of size (fanout.SizedStore): Recipients with it reads what
// Recipients with "" would, without reading the size again.
func (s *Store) StartCursor(size chat.ChannelSize) string {
	big := size.Members > int64(s.consistentUpTo)
	return recipientCursor{shards: max(size.Shards, 1), eventual: big, recent: big}.String()
}
