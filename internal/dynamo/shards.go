package dynamo

// Adaptive membership sharding.
//
// A channel's members are spread over a number of shards kept on the
// channel's own item (CHAN#<channel> / META: "shards", and the member count
// "members", both changed only by atomic UpdateItem). A channel starts with
// one shard; when a join makes the count exceed shards × ShardSize the
// joiner doubles the shard count with a conditional update that only ever
// raises it. A member is written to shard h mod shards (h a hash of its
// connection id) under the count it read, and is never moved: because the
// count only doubles, every shard a member was ever written to is one of
// h mod 2^j for 2^j ≤ shards — the candidates — and every one of them is
// inside 0..shards-1, which readers read. Leave and the 410 cleanup delete
// at the candidates, so a member stays removable after the count grows.
//
// Because members never move, the low shards keep those who joined while
// the count was smaller: shard 0 of a channel grown to n shards holds its
// fair share plus about ShardSize × (1 + 1/2 + 1/4 …) < 2 × ShardSize
// (measured: 112 of 300 members at ShardSize 50, 8 shards). That is still a
// bounded share of a big channel's reads and writes.

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// Shard sizing defaults. 1,000 members per shard keeps one shard's share of
// a broadcast's reads at ~31 KB (keys-only items) and of a join storm's
// writes well under a partition's 1,000 WCU/s; 256 shards reach 256,000
// members before shards grow past ShardSize.
const (
	DefaultShardSize = 1000
	DefaultMaxShards = 256
)

const (
	attrShards  = "shards"
	attrMembers = "members"
	attrDirect  = "dm" // a direct message's two user ids (a string set)
	// attrFanoutUntil is the grant end on a fan-out or recent-join item.
	attrFanoutUntil = "u"
)

func metaKey(channel string) map[string]types.AttributeValue {
	return key("CHAN#"+channel, "META")
}

func shardHash(connID string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(connID))
	return h.Sum32()
}

// shardOf is the shard a new member goes to when the channel has shards
// shards (a power of two).
func shardOf(connID string, shards int) int {
	return int(shardHash(connID) % uint32(max(shards, 1)))
}

// candidateShards lists every shard a member of a channel with shards shards
// may have been written to, the current placement first.
func candidateShards(connID string, shards int) []int {
	h := shardHash(connID)
	var out []int
	for n := shardsCeil(shards); n >= 1; n /= 2 {
		c := int(h % uint32(n))
		if len(out) == 0 || out[len(out)-1] != c {
			out = append(out, c)
		}
	}
	return out
}

// shardsCeil rounds n up to a power of two (a count written by an older
// version, or by hand, still yields a safe candidate list).
func shardsCeil(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// ChannelSize returns the channel's member count (joins minus leaves and
// cleanups, kept on the channel's item) and its shard count. A channel
// nobody joined has 0 members and 1 shard.
func (s *Store) ChannelSize(ctx context.Context, channel string) (members int64, shards int, err error) {
	info, err := s.ChannelInfo(ctx, channel)
	return info.Members, info.Shards, err
}

// ChannelInfo reads the channel's item (strongly consistent): its member
// and shard counts, and whether it is private or a direct message. An
// expired item reads as a fresh public channel: every membership written
// under it has expired too (metaLife), and a private channel's item never
// expires (privateTTL).
func (s *Store) ChannelInfo(ctx context.Context, channel string) (chat.ChannelInfo, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: metaKey(channel), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return chat.ChannelInfo{}, translate("channel size", err)
	}
	if s.expired(out.Item) {
		return chat.ChannelInfo{Shards: 1}, nil
	}
	return decodeInfo(out.Item), nil
}

func decodeInfo(item map[string]types.AttributeValue) chat.ChannelInfo {
	members, _ := numAttr(item, attrMembers)
	return chat.ChannelInfo{Members: max(members, 0), Shards: shardsAttr(item),
		Private: boolAttr(item, attrPrivate), Direct: setAttr(item, attrDirect)}
}

func shardsAttr(item map[string]types.AttributeValue) int {
	n, ok := numAttr(item, attrShards)
	if !ok || n < 1 {
		return 1
	}
	return int(n)
}

// privateTTL is the TTL attribute of a private channel's item: not a
// number, which DynamoDB's TTL ignores (and so does expired), so the item
// that says "private" and names a direct message's users never expires
// while the lists it guards live on. A join keeps it so: the TTL it renews
// is if_not_exists(private, metaLife), the private flag itself on a
// private channel.
var privateTTL = boolean(true)

// countMember adds delta to the channel's member count and returns the shard
// count a joiner must use, doubling it first when the count outgrew it, and
// what the channel's item says (the update returns it: no extra read).
//
// A join also renews the item's TTL to metaLife from now, which outlasts
// every connection (chat.ConnectionTTL) and so every membership written
// under the item: a channel nobody joined for metaLife is empty, and its
// item expires (issue #25: joining ever new names no longer leaves items
// behind). A join that finds the item expired but not yet deleted (DynamoDB
// deletes lazily, dynalite never) starts it afresh: one member, one shard.
// A private channel's item keeps privateTTL.
func (s *Store) countMember(ctx context.Context, channel string, delta int64) (int, chat.ChannelInfo, error) {
	now := s.now()
	in := &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       metaKey(channel),
		UpdateExpression:          aws.String("ADD #m :d"),
		ExpressionAttributeNames:  map[string]string{"#m": attrMembers},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": num(delta)},
		ReturnValues:              types.ReturnValueAllNew,
	}
	if delta > 0 {
		in.UpdateExpression = aws.String("ADD #m :d SET #ttl = if_not_exists(#p, :exp)")
		in.ConditionExpression = aws.String("attribute_not_exists(#ttl) OR attribute_exists(#p) OR #ttl > :now")
		in.ExpressionAttributeNames["#ttl"] = attrTTL
		in.ExpressionAttributeNames["#p"] = attrPrivate
		in.ExpressionAttributeValues[":exp"] = epoch(now.Add(metaLife))
		in.ExpressionAttributeValues[":now"] = num(now.Unix())
	}
	out, err := s.db.UpdateItem(ctx, in)
	if err = translate("count member", err); isConflict(err) {
		out, err = s.reviveChannel(ctx, channel, delta, now)
	}
	if err != nil {
		return 0, chat.ChannelInfo{}, err
	}
	info := decodeInfo(out.Attributes)
	members, _ := numAttr(out.Attributes, attrMembers)
	if delta <= 0 {
		return info.Shards, info, nil
	}
	shards, err := s.grow(ctx, channel, info.Shards, members)
	return shards, info, err
}

// reviveChannel restarts an expired channel item: delta members, one shard.
// If another join revived it first, it counts on the live item. (A private
// channel's item never expires, so it is never revived.)
func (s *Store) reviveChannel(ctx context.Context, channel string, delta int64, now time.Time) (*dynamodb.UpdateItemOutput, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      metaKey(channel),
		UpdateExpression:         aws.String("SET #m = :d, #ttl = :exp REMOVE #s"),
		ConditionExpression:      aws.String("#ttl <= :now"),
		ExpressionAttributeNames: map[string]string{"#m": attrMembers, "#ttl": attrTTL, "#s": attrShards},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":d": num(delta), ":exp": epoch(now.Add(metaLife)), ":now": num(now.Unix()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err = translate("count member: revive channel", err); !isConflict(err) {
		return out, err
	}
	out, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       metaKey(channel),
		UpdateExpression:          aws.String("ADD #m :d SET #ttl = if_not_exists(#p, :exp)"),
		ExpressionAttributeNames:  map[string]string{"#m": attrMembers, "#ttl": attrTTL, "#p": attrPrivate},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": num(delta), ":exp": epoch(now.Add(metaLife))},
		ReturnValues:              types.ReturnValueAllNew,
	})
	return out, translate("count member", err)
}

// grow raises the channel's shard count to fit members. The conditional
// update only ever raises it, so concurrent joiners that both decide to grow
// converge on the larger count; the loser re-reads it.
func (s *Store) grow(ctx context.Context, channel string, shards int, members int64) (int, error) {
	target := shardsCeil(shards)
	for members > int64(target)*int64(s.shardSize) && target < s.maxShards {
		target *= 2
	}
	if target == shards {
		return shards, nil
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      metaKey(channel),
		UpdateExpression:         aws.String("SET #s = :to"),
		ConditionExpression:      aws.String("attribute_not_exists(#s) OR #s < :to"),
		ExpressionAttributeNames: map[string]string{"#s": attrShards},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to": num(int64(target)),
		},
	})
	err = translate("grow shards", err)
	if err == nil {
		return target, nil
	}
	if !isConflict(err) {
		return 0, err
	}
	_, now, err := s.ChannelSize(ctx, channel)
	if err != nil {
		return 0, err
	}
	return now, nil
}

func fanoutPK(channel string, shard int) string {
	return "M#" + channel + "#" + strconv.Itoa(shard)
}

// fanoutKey is a member's keys-only fan-out item: the connection id as the
// sort key and nothing else, so a broadcast reads ~31 bytes per member.
func fanoutKey(channel string, shard int, connID string) map[string]types.AttributeValue {
	return key(fanoutPK(channel, shard), connID)
}

// fanoutItem is fanoutKey plus, for a connection whose grant ends, that end
// (attrFanoutUntil, ~6 more bytes): broadcasts skip the connection after it
// without another read.
func fanoutItem(channel string, shard int, connID string, until time.Time) map[string]types.AttributeValue {
	item := fanoutKey(channel, shard, connID)
	if !until.IsZero() {
		item[attrFanoutUntil] = epoch(until)
	}
	return item
}

func recentPK(channel string) string { return "J#" + channel }

// recentSK orders a channel's recent joins by time, so a reader can ask for
// only those after a cutoff.
func recentSK(joinedAtMs int64, connID string) string {
	return fmt.Sprintf("%013d#%s", joinedAtMs, connID)
}

// findShard returns the candidate shard where pkOf(shard)/sk exists
// (consistent reads, current placement first), or -1.
func (s *Store) findShard(ctx context.Context, pkOf func(int) string, sk string, cands []int) (int, error) {
	for _, sh := range cands {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: &s.table, Key: key(pkOf(sh), sk), ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("#pk"), ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		})
		if err != nil {
			return -1, translate("find shard", err)
		}
		if out.Item != nil {
			return sh, nil
		}
	}
	return -1, nil
}

// placeMember decides the shard of a joining member: a first join counts the
// member and uses the (possibly grown) shard count; a repeated join keeps
// the shard it was written to, if any, so the member is never in two.
func (s *Store) placeMember(ctx context.Context, channel, connID string, already bool) (int, chat.ChannelInfo, error) {
	if !already {
		shards, info, err := s.countMember(ctx, channel, 1)
		if err != nil {
			return 0, info, err
		}
		return shardOf(connID, shards), info, nil
	}
	info, err := s.ChannelInfo(ctx, channel)
	if err != nil {
		return 0, info, err
	}
	sh, err := s.memberShard(ctx, channel, connID, info.Shards)
	return sh, info, err
}

// memberShard finds the shard a member was written to (roster item first,
// then fan-out item), or where a new member would go.
func (s *Store) memberShard(ctx context.Context, channel, connID string, shards int) (int, error) {
	cands := candidateShards(connID, shards)
	rosterPK := func(sh int) string { return memberPK(channel, sh) }
	if sh, err := s.findShard(ctx, rosterPK, "CONN#"+connID, cands); err != nil || sh >= 0 {
		return sh, err
	}
	fanPK := func(sh int) string { return fanoutPK(channel, sh) }
	if sh, err := s.findShard(ctx, fanPK, connID, cands); err != nil || sh >= 0 {
		return sh, err
	}
	return shardOf(connID, shards), nil
}

// unplaceMember deletes a member's roster and fan-out items wherever a
// candidate shard holds them, decrements the count if a roster item was
// there, and returns the deleted roster item (nil if none).
func (s *Store) unplaceMember(ctx context.Context, channel, connID string) (map[string]types.AttributeValue, error) {
	_, shards, err := s.ChannelSize(ctx, channel)
	if err != nil {
		return nil, err
	}
	cands := candidateShards(connID, shards)
	var old map[string]types.AttributeValue
	found := -1
	for _, sh := range cands {
		out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &s.table, Key: key(memberPK(channel, sh), "CONN#"+connID), ReturnValues: types.ReturnValueAllOld,
		})
		if err != nil {
			return nil, translate("remove membership", err)
		}
		if out.Attributes != nil {
			old, found = out.Attributes, sh
			break
		}
	}
	// The fan-out item sits beside the roster item; without a roster item
	// (a join that failed half way) it may be at any candidate.
	del := cands
	if found >= 0 {
		del = []int{found}
	}
	for _, sh := range del {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &s.table, Key: fanoutKey(channel, sh, connID),
		}); err != nil {
			return old, translate("remove fan-out key", err)
		}
	}
	if old != nil {
		if _, _, err := s.countMember(ctx, channel, -1); err != nil {
			return old, err
		}
	}
	return old, nil
}
